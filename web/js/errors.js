// Wisp demo page, panel 4: broken frames. Each preset is decoded by the codec byte by
// byte; the page shows where the codec reports the error, where the error became
// certain, and the RFC sentence that was broken.
"use strict";

(() => {
  const { $, $$, el, hex2, parseHex, quoteReason, closeName } = Wisp;
  let W = null;

  const K = "37 fa 21 3d";
  // Header errors show in its first two bytes, but the codec reads those two together.
  const pair = (n) => `The codec reads a header's first two bytes together, so it reports an error in byte ${n} at byte ${n + 1}.`;
  const PAIR = pair(0);
  // `certain`: the first byte after which no later byte can make the frame valid.
  const BROKEN = [
    { id: "unmasked", name: "Unmasked client frame", role: "server", hex: "81 05 48 65 6c 6c 6f", certain: 1,
      why: "A text frame \"Hello\" sent to a server with MASK = 0." },
    { id: "reserved-opcode", name: "Reserved opcode 0x3", role: "server", hex: `83 80 ${K}`, certain: 0, late: PAIR,
      why: "Opcodes 0x3-0x7 and 0xB-0xF are reserved for future use." },
    { id: "fragmented-ping", name: "Fragmented ping", role: "server", hex: `09 80 ${K}`, certain: 0, late: PAIR,
      why: "A ping with FIN = 0: control frames may be injected between fragments, but never fragmented themselves." },
    { id: "close-1-byte", name: "Close with a 1-byte payload", role: "server", hex: `88 81 ${K} 34`, certain: 1,
      late: "The codec checks a close frame's body once the frame is complete, at its last byte.",
      why: "A close body is a 2-byte code, then an optional reason; one byte is neither." },
    { id: "invalid-utf8", name: "Invalid UTF-8 in a text frame", role: "server", hex: `81 82 ${K} 56 05`, certain: 7,
      why: "The payload unmasks to 61 ff: 'a', then 0xff, which no UTF-8 sequence contains." },
    { id: "length-top-bit", name: "64-bit length with the top bit set", role: "client", hex: "82 7f 80 00 00 00 00 00 00 05", certain: 2,
      why: "The 64-bit extended length is 2^63 + 5: its most significant bit must be 0." },
    { id: "rsv1", name: "RSV1 without an extension", role: "server", hex: `c1 80 ${K}`, certain: 0, late: PAIR,
      why: "RSV1 is set, but no extension (such as permessage-deflate) was negotiated." },
    { id: "rsv1-continuation", name: "RSV1 on a continuation frame", role: "server", deflate: true,
      hex: `41 83 ${K} c5 b2 ec c0 84 ${K} fe 33 26 3d`, certain: 9, late: pair(9),
      why: "permessage-deflate is agreed, and RFC 7692 §7.2.3.1's compressed \"Hello\" is sent in two fragments, "
        + "the first with RSV1 = 1 (right), the continuation with RSV1 = 1 too (wrong: the bit marks a message's first frame only)." },
    { id: "masked-server", name: "Masked server frame", role: "client", hex: `81 80 ${K}`, certain: 1,
      why: "A server sent a masked frame to a client." },
    { id: "big-ping", name: "Ping with 126 bytes", role: "server", hex: "89 fe 00 7e", certain: 1,
      why: "Control frames carry at most 125 bytes, so their length always fits the 7-bit field." },
    { id: "close-1005", name: "Close code 1005 on the wire", role: "server", hex: `88 82 ${K} 34 17`, certain: 7,
      why: "1005 means “no status code was present”; it is reserved and never sent." },
  ];

  function run(p) {
    const box = $("#e-result");
    box.replaceChildren();
    const bytes = parseHex(p.hex);
    const dec = new W.StepDecoder(p.role, p.deflate ? false : undefined);
    let error = null, at = -1;
    for (let i = 0; i < bytes.length && !error; i++) {
      try {
        dec.push(bytes[i]);
      } catch (e) {
        error = e;
        at = i;
      }
    }
    dec.free();
    box.dataset.preset = p.id;
    const list = el("ol", { class: "bytelist stream" });
    // Marked in words too: ✓ read, ◆ the error is certain, ✗ the codec reports it.
    bytes.forEach((b, i) => {
      const certain = error && i === p.certain && p.certain !== at;
      const cls = i === at ? "err" : certain ? "done certain" : i < at ? "done" : "";
      const mark = i === at ? " ✗" : certain ? " ◆" : i < at ? " ✓" : "";
      const said = i === at ? ", where the codec reports the error" : certain ? ", from which the error is certain" : i < at ? ", read" : "";
      list.append(el("li", { class: `byte ${cls}`, title: `byte ${i}${said}`, "aria-label": `byte ${i}: ${hex2(b)}${said}` },
        el("span", { class: "idx", text: `${i}${mark}` }), el("span", { class: "hex", text: hex2(b) })));
    });
    box.append(el("h3", { text: p.name }),
      el("p", {}, `${p.why} Decoded as a ${p.role} (the receiver of ${p.role === "server" ? "masked client" : "server"} frames):`),
      el("div", { class: "bytes" }, list));
    if (!error) {
      box.dataset.closeCode = "";
      box.append(el("p", { class: "ok", text: "The codec accepts these bytes." }));
      $("#e-announce").textContent = `${p.name}: the codec accepts these bytes.`;
      return;
    }
    box.dataset.closeCode = String(error.closeCode);
    box.dataset.at = String(at);
    box.dataset.certain = String(p.certain);
    const certain = at === p.certain ? `Byte ${at} is the first that makes the error certain.`
      : at > p.certain ? `The error is certain from byte ${p.certain} (marked ◆). ${p.late || ""}` : "";
    const ext = p.deflate ? " (permessage-deflate agreed)" : "";
    box.append(
      el("p", { class: "close-code" }, el("span", { class: "code", id: "e-code", text: String(error.closeCode) }),
        ` ${closeName(error.closeCode)}`),
      el("p", { id: "e-where" }, `The codec fails the connection at byte ${at}: `,
        el("strong", { text: error.message }), ` (${error.kind}). `, el("span", { id: "e-certain", text: certain })),
      el("blockquote", { id: "e-reason" }, quoteReason(error.rfcReason)),
      el("p", {}, el("button", { type: "button", onclick: () => Wisp.stepper.load(p.hex, p.role, "#s-step",
        p.deflate ? { takeover: false, history: null } : null) }, `Step through it in the stepper${ext}`)));
    $("#e-announce").textContent = `${p.name}: close ${error.closeCode} ${closeName(error.closeCode)} at byte ${at}.`;
  }

  function init() {
    W = Wisp.codec;
    const box = $("#e-presets");
    for (const p of BROKEN) {
      box.append(el("button", { type: "button", "data-preset": p.id, onclick: (ev) => {
        $$("#e-presets button").forEach((b) => b.setAttribute("aria-pressed", "false"));
        ev.currentTarget.setAttribute("aria-pressed", "true");
        run(p);
      }, "aria-pressed": "false" }, p.name));
    }
  }

  Wisp.errors = { init };
})();
