//! What permessage-deflate costs a connection, measured with a counting allocator, against
//! what `Connection::memory_held` reports (the server's memory budget charges that).
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use wisp_codec::extension::DeflateParams;
use wisp_codec::{Config, Connection};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
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

/// One test only: the counter is process-wide, so nothing may run beside it.
#[test]
fn compressor_and_inflater_cost_what_memory_held_says() {
    let text = "{\"id\":1,\"text\":\"hello hello hello hello\"}".repeat(50);
    let mut client = Connection::client(Config::default(), || [1, 2, 3, 4]);
    client.set_deflate(DeflateParams::default());
    client.send_text(&text).unwrap();
    let wire = client.pending_output().to_vec();

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
    server.handle_input(client.pending_output());
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
