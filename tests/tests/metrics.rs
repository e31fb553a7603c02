//! `GET /metrics` (issue 28): the text is valid Prometheus exposition format line by
//! line, every name the README's "Monitoring" lists is there, and the counters follow
//! real traffic; a real Prometheus (Debian's `prometheus`) scrapes `--metrics-listen`
//! under load and its HTTP API finds a non-zero `rate()` of the message counter; and
//! `/readyz` follows a required Redis link that a real redis-server, stopped and
//! started again by the test, takes down and back up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wisp_codec::Message;
use wisp_tests::redis::{free_port, Redis};
use wisp_tests::*;

/// One sample: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

/// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (labels take no `:`).
fn is_name(s: &str, colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (!first && c.is_ascii_digit())
    };
    let mut chars = s.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

/// A sample value: a float, `+Inf`, `-Inf` or `NaN`.
fn value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// A sample's labels, in order.
type Labels = Vec<(String, String)>;

/// `{k="v",...}` at the start of `s`: the labels and the rest of the line.
fn labels(s: &str) -> Result<(Labels, &str), String> {
    let mut out = Vec::new();
    let mut rest = s.strip_prefix('{').ok_or("no {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        let eq = rest.find('=').ok_or("a label without =")?;
        let key = &rest[..eq];
        if !is_name(key, false) {
            return Err(format!("bad label name {key:?}"));
        }
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err("a label value without quotes".into());
        }
        let mut val = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('\\') => val.push('\\'),
                    Some('"') => val.push('"'),
                    Some('n') => val.push('\n'),
                    e => return Err(format!("bad escape {e:?}")),
                },
                '"' => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                '\n' => return Err("a raw newline in a label value".into()),
                c => val.push(c),
            }
        }
        let end = end.ok_or("an unterminated label value")?;
        out.push((key.to_string(), val));
        rest = &rest[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Checks every line of `text` against the Prometheus text format (0.0.4): `# HELP`
/// and `# TYPE` lines with valid names and types, each family typed once and before its
/// samples, sample lines `name{labels} value`; a histogram's buckets cumulative with
/// `+Inf` equal to its count. Returns the samples and each family's type.
fn parse_exposition(text: &str) -> (Vec<Sample>, HashMap<String, String>) {
    assert!(text.ends_with('\n'), "the text ends with a newline");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fail = |why: &str| -> ! { panic!("line {}: {why}: {line:?}", n + 1) };
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let tail = parts.next().unwrap_or("");
            if !is_name(name, true) {
                fail("bad metric name");
            }
            match kind {
                "HELP" if tail.chars().all(|c| c != '\n') => {}
                "TYPE" => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&tail) {
                        fail("unknown type");
                    }
                    if types.insert(name.to_string(), tail.to_string()).is_some() {
                        fail("a family typed twice");
                    }
                }
                _ => fail("a comment that is neither HELP nor TYPE"),
            }
            continue;
        }
        let split = line.find(['{', ' ']).unwrap_or_else(|| fail("no value"));
        let name = &line[..split];
        if !is_name(name, true) {
            fail("bad metric name");
        }
        let (labels, rest) = if line[split..].starts_with('{') {
            labels(&line[split..]).unwrap_or_else(|e| fail(&e))
        } else {
            (Vec::new(), &line[split..])
        };
        let mut fields = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| fail("no space"))
            .split(' ');
        let v = fields
            .next()
            .and_then(value)
            .unwrap_or_else(|| fail("bad value"));
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().unwrap_or_else(|_| fail("bad timestamp"));
        }
        if fields.next().is_some() {
            fail("more than a value and a timestamp");
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        if !types.contains_key(family) {
            fail("a sample before its family's TYPE");
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: v,
        });
    }
    for (family, t) in &types {
        if t != "histogram" {
            continue;
        }
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
            .collect();
        assert!(!buckets.is_empty(), "{family} has no buckets");
        assert!(
            buckets.windows(2).all(|w| w[0].value <= w[1].value),
            "{family}: buckets not cumulative"
        );
        let inf = buckets.last().unwrap();
        assert_eq!(
            label(inf, "le"),
            Some("+Inf"),
            "{family}: the last bucket is +Inf"
        );
        assert_eq!(
            Some(inf.value),
            total(&samples, &format!("{family}_count"), &[]),
            "{family}: +Inf = count"
        );
    }
    (samples, types)
}

#[test]
fn the_exposition_checker_refuses_what_prometheus_would() {
    let good = "# HELP a_total An a.\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 3\n";
    assert_eq!(parse_exposition(good).0[0].labels[0].1, "1\"");
    let bad = [
        "a 1\n",                                                    // no TYPE before the sample
        "# TYPE a counter\na{x=1} 1\n",                             // an unquoted label value
        "# TYPE a counter\na{x=\"1\"} one\n",                       // not a number
        "# TYPE 1a counter\n",              // a name that starts with a digit
        "# TYPE a countr\n",                // an unknown type
        "# TYPE a gauge\n# TYPE a gauge\n", // typed twice
        "# TYPE a gauge\na 1",              // no final newline
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n", // +Inf is not the count
    ];
    for text in bad {
        let refused = std::panic::catch_unwind(|| parse_exposition(text)).is_err();
        assert!(refused, "accepted {text:?}");
    }
}

fn label<'a>(s: &'a Sample, key: &str) -> Option<&'a str> {
    s.labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The sum of the samples of `name` whose labels include `with`; `None` if none.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name && with.iter().all(|(k, v)| label(s, k) == Some(v)))
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// GET `path` on `port`: the status and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let r = http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let body = r.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    (status(&r), body)
}

fn scrape(port: u16) -> Vec<Sample> {
    let (code, body) = get(port, "/metrics");
    assert_eq!(code, 200, "{body}");
    parse_exposition(&body).0
}

/// The metric names README.md's "Monitoring" section lists (the first backticked
/// `wisp_...` word of each list item).
fn readme_names() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Monitoring")
        .nth(1)
        .expect("README has a \"## Monitoring\" section");
    let section = section.split("\n## ").next().unwrap();
    let names: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("- `")?.split('`').next())
        .filter(|n| n.starts_with("wisp_"))
        .map(String::from)
        .collect();
    assert!(
        names.len() >= 12,
        "README lists the metric names: {names:?}"
    );
    names
}

#[test]
fn metrics_are_valid_exposition_with_the_readme_names_and_follow_traffic() {
    let redis = Redis::start();
    let s = Server::start(&["--metrics", "--workers", "2", "--redis", &redis.url()]);
    let (code, body) = get(s.port, "/metrics");
    assert_eq!(code, 200);
    let (before, types) = parse_exposition(&body);
    // Every name the README lists, and every name the library says it serves.
    for name in readme_names() {
        let family = name
            .strip_suffix("_total")
            .map_or(name.clone(), |f| format!("{f}_total"));
        assert!(
            types.contains_key(&family),
            "{name} is not in /metrics:\n{body}"
        );
    }
    for name in wisp_server::METRIC_NAMES {
        assert!(
            readme_names().iter().any(|n| n == name),
            "README does not list {name}"
        );
    }
    assert_eq!(types["wisp_messages_received_total"], "counter");
    assert_eq!(types["wisp_handshake_duration_seconds"], "histogram");
    assert_eq!(
        total(&before, "wisp_connections_open", &[("worker", "1")]),
        Some(0.0)
    );

    // Traffic: 20 texts of 5 bytes and 10 binaries of 100, echoed, then a close.
    let mut ws = connect(s.port, "/echo");
    for _ in 0..20 {
        ws.send(Message::Text("hello".into())).unwrap();
        assert_eq!(next_data(&mut ws), Message::Text("hello".into()));
    }
    for _ in 0..10 {
        ws.send(Message::Binary(vec![7; 100])).unwrap();
        assert_eq!(next_data(&mut ws), Message::Binary(vec![7; 100]));
    }
    ws.close(wisp_codec::CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(close_code(&mut ws).map(|c| c.0), Some(1000));
    let grew = |after: &[Sample], name: &str, with: &[(&str, &str)]| {
        total(after, name, with).unwrap_or(0.0) - total(&before, name, with).unwrap_or(0.0)
    };
    // The workers publish at the end of their turn: wait for it (bounded).
    let mut after = Vec::new();
    wait_until(10, "the echo's counts in /metrics", || {
        after = scrape(s.port);
        grew(&after, "wisp_messages_sent_total", &[("type", "close")]) >= 1.0
    });
    assert_eq!(
        grew(&after, "wisp_messages_received_total", &[("type", "text")]),
        20.0
    );
    assert_eq!(
        grew(&after, "wisp_messages_sent_total", &[("type", "text")]),
        20.0
    );
    assert_eq!(
        grew(
            &after,
            "wisp_message_bytes_received_total",
            &[("type", "text")]
        ),
        100.0
    );
    assert_eq!(
        grew(
            &after,
            "wisp_messages_received_total",
            &[("type", "binary")]
        ),
        10.0
    );
    assert_eq!(
        grew(
            &after,
            "wisp_message_bytes_sent_total",
            &[("type", "binary")]
        ),
        1000.0
    );
    // The client's close: code 1000 and "bye".
    assert_eq!(
        grew(
            &after,
            "wisp_message_bytes_received_total",
            &[("type", "close")]
        ),
        5.0
    );
    // Its connection and its own scrapes were accepted (every scrape is one).
    assert!(grew(&after, "wisp_connections_accepted_total", &[]) >= 2.0);
    assert_eq!(
        grew(&after, "wisp_handshake_duration_seconds_count", &[]),
        1.0
    );
    assert!(total(&after, "wisp_handshake_duration_seconds_sum", &[]).unwrap() > 0.0);
    // A refusal by reason: a request head that is not HTTP.
    let _ = http(s.port, b"NOT HTTP\r\n\r\n");
    wait_until(10, "the bad request's refusal in /metrics", || {
        grew(
            &scrape(s.port),
            "wisp_refusals_total",
            &[("reason", "bad_request")],
        ) >= 1.0
    });
    // The demo's Redis link, through its own registered metrics.
    wait_until(10, "wisp_redis_link_up 1", || {
        total(&scrape(s.port), "wisp_redis_link_up", &[]) == Some(1.0)
    });
}

/// A Prometheus (`prometheus` from Debian) started on a free port with a scrape of
/// `target` every second and its storage in a temporary directory, removed when dropped.
struct Prometheus {
    _child: Guard,
    port: u16,
    dir: PathBuf,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "wisp-prometheus-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: wisp\n    scrape_interval: 1s\n    scrape_timeout: 1s\n\
                 \x20   static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (bash scripts/setup.sh test installs it)");
        let p = Prometheus {
            _child: Guard(child),
            port,
            dir,
        };
        wait_until(60, "Prometheus to be ready", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && get(port, "/-/ready").0 == 200
        });
        p
    }

    /// An instant query's single value, if the result has one.
    fn query(&self, promql: &str) -> Option<f64> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (code, body) = get(self.port, &format!("/api/v1/query?query={encoded}"));
        assert_eq!(code, 200, "{promql}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(v["status"], "success", "{body}");
        let result = v["data"]["result"].as_array()?;
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_real_prometheus_scrapes_metrics_listen_and_finds_the_message_rate() {
    let metrics_port = free_port();
    let target = format!("127.0.0.1:{metrics_port}");
    let s = Server::start(&["--metrics-listen", &target, "--workers", "2"]);
    // /metrics is on its own port, not the main one.
    assert!(!scrape(metrics_port).is_empty());
    assert_ne!(get(s.port, "/metrics").0, 200);
    let prometheus = Prometheus::start(&target);

    // Load: 4 clients echoing small messages until told to stop, at most 2 minutes and
    // 2 million messages in all.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, sent, port) = (Arc::clone(&stop), Arc::clone(&sent), s.port);
            std::thread::spawn(move || {
                let mut ws = connect(port, "/echo");
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::Relaxed)
                    && Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::Relaxed) < 2_000_000
                {
                    ws.send(Message::Text("load".into())).unwrap();
                    assert_eq!(next_data(&mut ws), Message::Text("load".into()));
                }
            })
        })
        .collect();

    // Prometheus took the scrapes (`up` is 0 for a target whose text it cannot parse),
    // and its rate() of the message counter is above zero.
    let mut rate = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let up = prometheus.query("up{job=\"wisp\"}");
        rate = prometheus.query("sum(rate(wisp_messages_received_total{type=\"text\"}[5s]))");
        if up == Some(1.0) && rate.is_some_and(|r| r > 0.0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert_eq!(
        prometheus.query("up{job=\"wisp\"}"),
        Some(1.0),
        "Prometheus could not scrape /metrics"
    );
    let rate = rate.expect("Prometheus has no rate() of wisp_messages_received_total");
    assert!(rate > 0.0, "rate() is {rate}");
    println!(
        "Prometheus saw {rate:.0} messages/s received ({} sent by the load)",
        sent.load(Ordering::Relaxed)
    );
    // The histogram, through Prometheus too.
    assert!(prometheus
        .query("sum(wisp_handshake_duration_seconds_count)")
        .is_some_and(|n| n >= 4.0));
}

#[test]
fn readyz_follows_a_required_redis_link_while_healthz_stays_up() {
    let mut redis = Redis::start();
    let port = redis.port;
    let s = Server::start(&["--redis", &redis.url(), "--metrics"]);
    wait_until(20, "/readyz 200 with Redis up", || {
        get(s.port, "/readyz").0 == 200
    });
    redis.stop();
    wait_until(20, "/readyz 503 with Redis down", || {
        get(s.port, "/readyz").0 == 503
    });
    let (code, body) = get(s.port, "/readyz");
    assert_eq!(
        (code, body.as_str()),
        (503, "the link to Redis (--redis) is down\n")
    );
    assert_eq!(get(s.port, "/healthz").0, 200, "alive while Redis is down");
    assert_eq!(total(&scrape(s.port), "wisp_redis_link_up", &[]), Some(0.0));
    let _redis = Redis::start_on(port);
    wait_until(30, "/readyz 200 with Redis back", || {
        get(s.port, "/readyz").0 == 200
    });
    let after = scrape(s.port);
    assert_eq!(total(&after, "wisp_redis_link_up", &[]), Some(1.0));
    assert!(total(&after, "wisp_redis_reconnections_total", &[]) >= Some(1.0));
}

#[test]
fn readyz_ignores_an_optional_redis_link() {
    let port = free_port();
    // Nothing listens on `port`: with --redis-optional the server serves alone.
    let url = format!("redis://127.0.0.1:{port}");
    let s = Server::start(&["--redis", &url, "--redis-optional"]);
    assert_eq!(get(s.port, "/readyz").0, 200);
    assert_eq!(get(s.port, "/healthz").0, 200);
}

#[test]
fn a_metrics_port_that_cannot_be_had_is_one_line_and_an_exit() {
    let run = |addr: &str| {
        let out = Command::new(binary("wisp-server"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", addr])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Taken by a listener of this test's own.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = run(&addr);
    assert_eq!(code, Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("wisp-server: "))
        .unwrap_or_default();
    assert!(
        line.contains(&format!("cannot listen on {addr} for --metrics-listen")),
        "{err}"
    );
    // Not an address at all: the command line's error, exit 2.
    let (code, err) = run("nowhere");
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--metrics-listen"), "{err}");
}
