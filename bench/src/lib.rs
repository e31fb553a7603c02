//! Wisp's benchmarks live in `benches/` (`cargo bench -p wisp-bench --bench load`, `deflate`,
//! `deflate_modes`, `broadcast`, `fanout`); this library holds what several of them use.

/// Pins this thread (and the threads it starts) to one core, if the machine has it.
/// The machine's count of cores, not `available_parallelism`: that is the affinity this
/// process inherited, a single core for a server that the pinned load generator started.
pub fn pin(core: usize) {
    // SAFETY: sysconf reads a constant of the system.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    if cores < 2 {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it; the call
    // reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core % cores, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The environment variable `name` parsed, else `default` (the benchmarks' knobs).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server side of a deflate mode's row (`shared`, `dedicated`: context takeover both
/// ways, else deflate off), in a child process of a benchmark: the demo's routes on one
/// worker pinned to core 0, its port printed as `PORT n`, then served until killed.
pub fn serve_deflate_mode(mode: &str) {
    use wisp_server::codec::extension::ServerDeflate;
    use wisp_server::{Config, Server};
    pin(0);
    let mut config = Config::default()
        .listen("127.0.0.1:0")
        .workers(1)
        .max_connections_per_ip(100_000)
        .max_handshakes_per_ip(100_000);
    match mode {
        "shared" => {}
        "dedicated" => {
            config.deflate = Some(ServerDeflate {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                ..ServerDeflate::default()
            })
        }
        _ => config.deflate = None,
    }
    let server = Server::bind(config).unwrap();
    let _demo = wisp_server::demo::Demo::all().install(&server).unwrap();
    println!("PORT {}", server.local_addr().port());
    server.run().unwrap();
}

/// The masks of a benchmark's client connections: a cheap sequence that differs from
/// frame to frame (no randomness needed to measure a server).
pub fn masks() -> impl FnMut() -> [u8; 4] {
    let mut n = 0u32;
    move || {
        n = n.wrapping_add(0x9e37_79b9);
        n.to_be_bytes()
    }
}

/// xorshift64: the generated corpora's numbers (deterministic, no dependency).
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "the", "socket", "frame", "message", "server", "client", "window", "deflate", "ok", "is",
    "ready", "price", "order", "cancel", "room", "hello", "again", "late", "today", "build",
];

/// A JSON message of 200 to 2,000 bytes, different for each `seed` (the deflate
/// benchmarks' load: `deflate_modes`, `deflate_window`).
pub fn json(seed: u64) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let target = 200 + r.below(1801) as usize;
    let mut s = format!(
        "{{\"id\":{},\"ts\":{},\"user\":\"u{}\",\"items\":[",
        seed,
        1_764_547_200_000 + seed * 137,
        r.below(1000)
    );
    let mut first = true;
    while s.len() + 40 < target {
        if !first {
            s.push(',');
        }
        first = false;
        let word = WORDS[r.below(WORDS.len() as u64) as usize];
        s.push_str(&format!(
            "{{\"k\":\"{word}\",\"v\":{},\"ok\":{}}}",
            r.below(100_000),
            r.below(2) == 0
        ));
    }
    s.push_str("],\"end\":true}");
    s
}

/// Runs a Python peer of the deflate benchmarks (`bench/benches/<script>`, through the
/// repository's `.venv`) on `corpus` (written to a file, one message per line) with
/// `passes`, and returns its stdout's lines (one JSON report each); `None`, with a note
/// printed, when `.venv` is missing.
pub fn python_peer(script: &str, corpus: &[String], passes: usize) -> Option<Vec<String>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        println!(
            "(no {}: run scripts/setup.sh for the Python rows)",
            python.display()
        );
        return None;
    }
    let file =
        std::env::temp_dir().join(format!("wisp-{script}-corpus-{}.jsonl", std::process::id()));
    std::fs::write(&file, corpus.join("\n")).unwrap();
    let out = std::process::Command::new(&python)
        .arg(root.join("bench/benches").join(script))
        .arg(&file)
        .arg(passes.to_string())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}
