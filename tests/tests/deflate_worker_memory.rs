//! A worker's permessage-deflate memory in shared mode does not grow with its
//! connections, measured with a counting allocator in this process, where a real
//! wisp-server runs (one worker, the demo routes) and real Python `websockets` clients
//! (tests/peers/py_hold.py, another process, with their default deflate offer) each echo
//! a message through `/echo` and stay open.
//!
//! The same is measured without deflate (`Config::deflate = None`): with 1 connection
//! the deflate server holds its worker's pool (a compressor for the 15-bit window and an
//! inflater, about 270 KiB) more; with 500 it holds no more than that, so the growth per connection is
//! the plain server's. A connection with its own deflate state would add at least an
//! inflater's 44 KiB.
#![cfg(target_os = "linux")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::thread;
use std::time::Duration;

use wisp_server::{Config, Server};
use wisp_tests::peers::python;
use wisp_tests::{root, spawn_ready, Guard};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static CALLS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap bytes once the server is quiet: its idle connections gave their buffers
/// back (after 1 s without input) and nothing moved for a while.
fn settled_live() -> isize {
    thread::sleep(Duration::from_millis(1500));
    let mut last = LIVE.load(Ordering::Relaxed);
    for _ in 0..20 {
        thread::sleep(Duration::from_millis(250));
        let now = LIVE.load(Ordering::Relaxed);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Holds `count` Python connections to `url` that each echoed a message.
fn hold(url: &str, count: usize, deflate: bool) -> Guard {
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_hold.py")
        .arg(url)
        .args(["--count", &count.to_string(), "--timeout", "300"])
        .args(["--deflate", if deflate { "on" } else { "off" }])
        .current_dir(root())
        .stdin(Stdio::piped());
    let (child, line) = spawn_ready(&mut cmd);
    let ready = format!("READY {count}");
    assert!(line.starts_with(&ready), "py_hold.py failed: {line:?}");
    assert_eq!(
        line.contains("permessage-deflate"),
        deflate,
        "the agreed extensions: {line:?}"
    );
    Guard(child)
}

/// Live heap with 1 held connection, then with 1 + `more`; (with 1, with all).
fn measure(deflate: bool, more: usize) -> (isize, isize) {
    let mut config = Config::default()
        .listen("127.0.0.1:0")
        .workers(1)
        .max_connections_per_ip(10_000)
        .max_handshakes_per_ip(10_000);
    if !deflate {
        config.deflate = None;
    }
    let before = settled_live();
    let server = Server::bind(config).unwrap();
    let demo = wisp_server::demo::Demo::all().install(&server).unwrap();
    let url = format!("ws://{}/echo", server.local_addr());
    let stop = server.shutdown_handle();
    let run = thread::spawn(move || server.run());
    let one = hold(&url, 1, deflate);
    let with_one = settled_live() - before;
    let rest = hold(&url, more, deflate);
    let with_all = settled_live() - before;
    drop(rest);
    drop(one);
    stop.shutdown();
    run.join().unwrap().unwrap();
    drop(demo);
    (with_one, with_all)
}

#[test]
fn shared_deflate_memory_stays_flat_from_1_to_501_connections() {
    const MORE: usize = 500;
    let (d1, d501) = measure(true, MORE);
    let (p1, p501) = measure(false, MORE);
    let per_conn = |a: isize, b: isize| (b - a) as f64 / MORE as f64;
    let (d_per, p_per) = (per_conn(d1, d501), per_conn(p1, p501));
    println!(
        "live heap: deflate {d1} B with 1 connection, {d501} B with {}; no deflate {p1} B, {p501} B; \
         per connection {d_per:.0} B with deflate, {p_per:.0} B without; {} allocations in all",
        MORE + 1,
        CALLS.load(Ordering::Relaxed)
    );
    // The measurement sees deflate state: the worker's pool, once.
    let pool = wisp_server::codec::DeflatePool::MAX_MEMORY as isize;
    assert!(
        d1 - p1 > pool * 9 / 10,
        "the deflate server holds only {} B more with one connection",
        d1 - p1
    );
    // ... and no more of it with 500 more connections: per connection, what a plain
    // connection costs, far below one inflater (44 KiB).
    assert!(
        d_per - p_per < 512.0,
        "{d_per:.0} B per deflate connection against {p_per:.0} B per plain one"
    );
    assert!(d_per < 4096.0, "{d_per:.0} B per idle deflate connection");
}
