//! What a connection allocates, measured with a counting allocator: what
//! permessage-deflate costs, against what `Connection::memory_held` reports (the server's
//! memory budget charges that), and that echoing small messages allocates nothing per
//! message; and that in the shared mode (no context takeover either way, one
//! `DeflatePool` lent to every connection, as a server's worker does) the deflate
//! memory does not grow with the connections.
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;

use wisp_codec::extension::DeflateParams;
use wisp_codec::internals::Deflater;
use wisp_codec::{Config, Connection, DeflatePool};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
thread_local! {
    /// Allocations made by this thread (the test harness's own thread allocates too).
    static CALLS: Cell<usize> = const { Cell::new(0) };
}
/// The counters are process-wide: the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        let _ = CALLS.try_with(|c| c.set(c.get() + 1));
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

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn compressor_and_inflater_cost_what_memory_held_says() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = "{\"id\":1,\"text\":\"hello hello hello hello\"}".repeat(50);
    let mut client = Connection::client(Config::default(), || [1, 2, 3, 4]);
    client.set_deflate(DeflateParams::default());
    client.send_text(&text).unwrap();
    let wire = client.pending_output_front().to_vec();

    let before = live();
    let mut server = Connection::server(Config::default());
    server.set_deflate(DeflateParams::default());
    server.handle_input(&wire);
    let m = server.poll_event().unwrap().unwrap();
    server.send(m).unwrap();
    server.advance_output(usize::MAX);
    server.shrink_buffers();
    let held = server.memory_held() as isize;
    let measured = live() - before;
    println!("measured {measured} B, memory_held {held} B");
    // Context takeover both ways: compressor + inflater stay; memory_held within 10%.
    assert!(
        (measured - held).abs() * 10 < measured,
        "measured {measured}, held {held}"
    );

    // Without context takeover, an idle connection gives both back.
    let before = live();
    let mut server = Connection::server(Config::default());
    server.set_deflate(DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    });
    let mut client = Connection::client(Config::default(), || [1, 2, 3, 4]);
    client.set_deflate(server.deflate_params().unwrap());
    client.send_text(&text).unwrap();
    server.handle_input(client.pending_output_front());
    let m = server.poll_event().unwrap().unwrap();
    server.send(m).unwrap();
    server.advance_output(usize::MAX);
    drop(client);
    server.shrink_buffers();
    let idle = live() - before;
    println!("idle without takeover: {idle} B");
    assert_eq!(server.memory_held(), 0);
    assert!(idle < 4096, "{idle}");
}

/// A compressor's memory is sized by its window (2^8 to 2^15 bytes), is what
/// `Deflater::memory` (and so `memory_held`) reports, and stays under what zlib needs
/// for the same window at its default memLevel 8: `(1 << (windowBits + 2)) + (1 << 17)`.
#[test]
fn a_compressor_costs_what_its_window_needs() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = "{\"id\":1,\"text\":\"hello hello hello hello\"}".repeat(50);
    let mut out = Vec::with_capacity(1 << 16);
    let mut last = 0;
    for bits in 8..=15u8 {
        // The counter is the process's: the test harness's own thread may allocate
        // meanwhile, so of three tries the one nearest what is reported counts.
        let (measured, held) = (0..3)
            .map(|_| {
                let before = live();
                let mut d = Deflater::new(bits, true);
                out.clear();
                d.compress(text.as_bytes(), true, &mut out);
                (live() - before, d.memory() as isize)
            })
            .min_by_key(|(m, h)| (m - h).abs())
            .unwrap();
        let zlib = (1isize << (bits.max(9) + 2)) + (1 << 17);
        println!("window {bits}: measured {measured} B, memory {held} B, zlib {zlib} B");
        assert!(
            (measured - held).abs() * 50 < measured,
            "{bits}: {measured} {held}"
        );
        assert!(
            measured < zlib,
            "{bits}: {measured} B against zlib's {zlib} B"
        );
        assert!(measured > last, "{bits}: a larger window costs more");
        last = measured;
    }
}

/// An echo of small messages (the server's `/echo`: each received message sent back by
/// value) reuses one buffer: after the first burst, no allocation at all, text or binary.
#[test]
fn echoing_small_messages_allocates_nothing_per_message() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut client = Connection::client(Config::default(), || [9, 8, 7, 6]);
    let mut burst = Vec::new();
    for i in 0..32u8 {
        if i % 2 == 0 {
            client.send_binary(&[i; 16]).unwrap();
        } else {
            client.send_text("sixteen bytes...").unwrap();
        }
        burst.extend_from_slice(client.pending_output_front());
        client.advance_output(usize::MAX);
    }
    let mut server = Connection::server(Config::default());
    let echo = |server: &mut Connection| {
        server.handle_input(&burst);
        let mut n = 0;
        while let Some(m) = server.poll_event().unwrap() {
            server.send(m).unwrap();
            n += 1;
        }
        let out = server.pending_output_len();
        server.advance_output(out);
        (n, out)
    };
    assert_eq!(echo(&mut server), (32, 32 * 18));
    let calls = CALLS.with(Cell::get);
    for _ in 0..100 {
        assert_eq!(echo(&mut server), (32, 32 * 18));
    }
    assert_eq!(
        CALLS.with(Cell::get) - calls,
        0,
        "allocations in 3,200 echoes"
    );
    // The kept buffer is counted, and goes with the others when the connection is quiet.
    assert!(server.memory_held() > 0);
    server.shrink_buffers();
    assert_eq!(server.memory_held(), 0);
}

/// The shared mode as a server's worker runs it: 1, then 100, then 400 connections,
/// each echoing a compressed message through the one pool the worker lends them.
/// The memory held by them all and the pool does not grow with their number: the pool
/// is at most one compressor and one inflater, and an idle connection holds no deflate
/// state (only what a plain connection holds, here nothing).
#[test]
fn shared_mode_memory_does_not_grow_with_connections() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shared = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let text = "{\"id\":1,\"text\":\"hello hello hello hello\"}".repeat(20);
    // The client side of every connection sends the same bytes (its mask is fixed).
    let mut client = Connection::client(Config::default(), || [1, 2, 3, 4]);
    client.set_deflate(shared);
    client.send_text(&text).unwrap();
    let wire = client.pending_output_front().to_vec();
    drop(client);

    let before = live();
    let mut pool = DeflatePool::new();
    let mut servers: Vec<Connection> = Vec::new();
    let mut grown = Vec::new();
    for total in [1usize, 100, 400] {
        while servers.len() < total {
            let mut s = Connection::server(Config::default());
            s.set_deflate(shared);
            servers.push(s);
        }
        // One step of each connection: lend, read, echo, write, give back, go quiet.
        for s in &mut servers {
            s.lend_deflate(&mut pool);
            s.handle_input(&wire);
            let m = s.poll_event().unwrap().unwrap();
            s.send(m).unwrap();
            s.advance_output(usize::MAX);
            s.return_deflate(&mut pool);
            // The counts go to the driver after each step, as wisp-server's session
            // takes them (they are not deflate memory), and the connection goes quiet.
            s.take_traffic();
            s.shrink_buffers();
            assert_eq!(s.memory_held(), 0);
        }
        let vec_itself = servers.capacity() * std::mem::size_of::<Connection>();
        let deflate = live() - before - vec_itself as isize;
        println!(
            "{total} connections: {deflate} B beyond the connections' own structs (pool {} B)",
            pool.memory()
        );
        grown.push(deflate);
    }
    assert_eq!(pool.memory(), DeflatePool::MAX_MEMORY);
    // One compressor and one inflater, whatever the number of connections (a few KiB
    // of slack for allocator rounding).
    let max = (DeflatePool::MAX_MEMORY + 16 * 1024) as isize;
    assert!(grown.iter().all(|&g| g <= max), "{grown:?}");
    assert!(grown[2] - grown[0] < 4096, "{grown:?}");
}
