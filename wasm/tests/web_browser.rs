//! The wasm API tested in a real browser:
//! `CHROMEDRIVER=/usr/bin/chromedriver wasm-pack test --headless --chrome wasm --test web_browser`.
//!
//! `run_in_browser` makes this file browser-only (`--node` skips it, and without it the
//! Chrome run would run nothing and still exit 0). It runs the shared cases of
//! `wasm_cases/` plus what only a browser has: masking keys drawn from `crypto`.
#![cfg(target_arch = "wasm32")]

mod wasm_cases;

use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use wisp_wasm::{decode_frame, encode_frame, StepDecoder};

use wasm_cases::{get, string, u8s};

wasm_bindgen_test_configure!(run_in_browser);

/// `crypto.getRandomValues(new Uint8Array(n))`, as the page draws its masking keys.
fn random_bytes(n: u32) -> Vec<u8> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    let get_random: Function = Reflect::get(&crypto, &"getRandomValues".into())
        .unwrap()
        .unchecked_into();
    let buf = Uint8Array::new_with_length(n);
    get_random.call1(&crypto, &buf).unwrap();
    buf.to_vec()
}

#[wasm_bindgen_test]
fn runs_in_a_browser_window() {
    let window = Reflect::get(&js_sys::global(), &"window".into()).unwrap();
    assert!(
        !window.is_undefined(),
        "this file must run in a browser, not Node"
    );
}

#[wasm_bindgen_test]
fn frames_masked_with_crypto_keys_round_trip_through_the_stepper() {
    for round in 0..20u32 {
        let key = random_bytes(4);
        let payload: Vec<u8> = format!("round {round}: héllo wörld").into_bytes();
        let wire = encode_frame(0x1, true, 0, &payload, Some(key.clone())).unwrap();
        let f = decode_frame(&wire).unwrap();
        assert_eq!(u8s(&f, "maskKey"), key);
        assert_eq!(u8s(&f, "unmasked"), payload);
        let mut dec = StepDecoder::new("server", None).unwrap();
        let mut last = JsValue::NULL;
        for b in wire {
            last = dec.push(b).unwrap();
        }
        let m = get(&last, "message");
        assert_eq!(string(&m, "text"), format!("round {round}: héllo wörld"));
    }
}
