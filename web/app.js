// Wisp demo page: RFC 6455 frames encoded, masked and decoded by wisp-codec (wasm).
//
// Plain JavaScript, no framework, no bundler. Every protocol decision is the codec's:
// this file only draws what the codec returns (see codec/src/wasm.rs for its API).
//
// Loading: over http the codec comes from pkg/ (an ES module, --target web). Opened
// from disk (file://), Chromium refuses module scripts and fetch(), so it comes from
// pkg-nomod/ (a classic script) with the .wasm bytes embedded in wasm_b64.js.
"use strict";

(() => {
  // ---------------------------------------------------------------- small helpers
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /** Creates an element: el("td", {class: "x", text: "y"}, child...). */
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const RFC_URL = "https://www.rfc-editor.org/rfc/rfc6455";
  const rfcHref = (section) => `${RFC_URL}#section-${section}`;
  const rfcLink = (section) =>
    el("a", { class: "rfc", href: rfcHref(section), title: `RFC 6455 section ${section}` }, `§${section}`);

  const hex2 = (b) => b.toString(16).padStart(2, "0");
  const hex = (bytes) => Array.from(bytes, hex2).join(" ");
  const bin8 = (b) => b.toString(2).padStart(8, "0");
  const encoder = new TextEncoder();
  const lossy = new TextDecoder("utf-8");
  const strict = new TextDecoder("utf-8", { fatal: true });

  /** Parses "81 05 48", "0x81,0x05", "810548" into bytes; throws a readable Error. */
  function parseHex(text) {
    const clean = text.replace(/0x/gi, "").replace(/[\s,:;]+/g, "");
    if (clean.length % 2 !== 0) throw new Error("hex needs two digits per byte");
    if (/[^0-9a-f]/i.test(clean)) throw new Error("only hex digits 0-9 a-f are allowed");
    const out = new Uint8Array(clean.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
    return out;
  }

  /** Shows bytes as text when they are printable UTF-8, else as hex. */
  function showPayload(bytes, max = 200) {
    if (bytes.length === 0) return "(empty)";
    try {
      const t = strict.decode(bytes);
      if (!/[\u0000-\u0008\u000e-\u001f\u007f]/.test(t)) {
        const s = JSON.stringify(t.length > max ? t.slice(0, max) : t);
        return t.length > max ? `${s}… (${bytes.length} bytes)` : s;
      }
    } catch (_) { /* not UTF-8: fall through to hex */ }
    const shown = bytes.length > 32 ? `${hex(bytes.subarray(0, 32))} …` : hex(bytes);
    return `${shown} (${bytes.length} bytes)`;
  }

  function randomBytes(n) {
    return crypto.getRandomValues(new Uint8Array(n));
  }

  const OPCODES = {
    0: ["Continuation", "continues a fragmented message (§5.4)", "5.4"],
    1: ["Text", "the payload is UTF-8 text (§5.6)", "5.6"],
    2: ["Binary", "the payload is arbitrary binary data (§5.6)", "5.6"],
    8: ["Close", "starts or answers the closing handshake (§5.5.1)", "5.5.1"],
    9: ["Ping", "a keepalive or check; the peer MUST answer with a Pong (§5.5.2)", "5.5.2"],
    10: ["Pong", "the answer to a Ping, with the same application data (§5.5.3)", "5.5.3"],
  };
  const opName = (op) => (OPCODES[op] ? OPCODES[op][0] : "reserved");
  const opHex = (op) => `0x${op.toString(16).toUpperCase()}`;

  /** What a close code means: the codec's one table (CloseCode::description). */
  const closeName = (code) => W.closeCodeDescription(code);

  /** What each field of the §5.2 figure means, given its value. */
  const FIELDS = {
    fin: { short: "FIN", section: "5.2",
      meaning: (v) => v ? "1: this is the final fragment of a message" : "0: more fragments of this message follow (§5.4)" },
    rsv1: { short: "RSV1", section: "5.2", meaning: rsvMeaning },
    rsv2: { short: "RSV2", section: "5.2", meaning: rsvMeaning },
    rsv3: { short: "RSV3", section: "5.2", meaning: rsvMeaning },
    opcode: { short: "opcode", section: "5.2",
      meaning: (v) => `${opHex(v)} ${opName(v)}: ${OPCODES[v] ? OPCODES[v][1] : "reserved, a receiver MUST fail the connection"}` },
    mask: { short: "MASK", section: "5.3",
      meaning: (v) => v ? "1: the payload is masked with the masking key; a client MUST mask every frame it sends (§5.1)"
        : "0: not masked; a server MUST NOT mask the frames it sends (§5.1)" },
    len7: { short: "Payload len", section: "5.2",
      meaning: (v) => v <= 125 ? `${v}: the payload length itself (0-125)`
        : v === 126 ? "126: the length follows in the next 2 bytes" : "127: the length follows in the next 8 bytes" },
    extlen: { short: "Extended payload length", section: "5.2",
      meaning: (v) => `${v}: an unsigned integer in network byte order; the minimal number of bytes MUST be used` },
    maskkey: { short: "Masking-key", section: "5.3",
      meaning: () => "32 bits the client picks at random for each frame; payload octet i is XORed with key octet i mod 4" },
    payload: { short: "Payload Data", section: "5.2",
      meaning: (v) => `${v} bytes of application data (extension data would come first, but no extension is negotiated)` },
  };
  function rsvMeaning(v) {
    return v ? "1: reserved; without a negotiated extension that defines it, a receiver MUST fail the connection"
      : "0: reserved for extensions (e.g. RSV1 for permessage-deflate); none is negotiated";
  }

  function fieldValueText(f) {
    if (f.key === "maskkey") return hex(f.value);
    if (f.key === "payload") return `${f.value} bytes`;
    if (f.key === "opcode") return `${opHex(f.value)} (${opName(f.value)})`;
    if (typeof f.value === "boolean") return f.value ? "1" : "0";
    return String(f.value);
  }

  function fieldValueNumber(f) {
    return typeof f.value === "boolean" ? (f.value ? 1 : 0) : f.value;
  }

  /** The bit `i` of a frame, counting from the most significant bit of byte 0. */
  const bitAt = (bytes, i) => (bytes[i >> 3] >> (7 - (i & 7))) & 1;

  const narrow = window.matchMedia("(max-width: 760px)");

  // ---------------------------------------------------------------- the codec
  let W = null; // the wasm API: encodeFrame, decodeFrame, applyMask, StepDecoder, ...

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = el("script", { src });
      s.onload = resolve;
      s.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.append(s);
    });
  }

  async function loadCodec() {
    if (location.protocol === "http:" || location.protocol === "https:") {
      const mod = await import(new URL("pkg/wisp_codec.js", location.href).href);
      await mod.default({ module_or_path: new URL("pkg/wisp_codec_bg.wasm", location.href) });
      return { api: mod, how: "pkg/ (ES module, application/wasm over http)" };
    }
    await loadScript("pkg-nomod/wisp_codec.js");
    await loadScript("wasm_b64.js");
    const bytes = Uint8Array.from(atob(self.WASM_B64), (c) => c.charCodeAt(0));
    // `let wasm_bindgen` in a classic script is a global binding, not a property of self.
    // eslint-disable-next-line no-undef
    const api = wasm_bindgen;
    api.initSync({ module: bytes });
    return { api, how: "bytes embedded in wasm_b64.js (file://)" };
  }

  // ---------------------------------------------------------------- frame views
  /**
   * Draws a frame like the RFC §5.2 figure: rows of 32 bits (8 on a phone), each field a
   * box over its bits, every bit shown. Payload beyond `maxPayload` bytes is summarised.
   */
  function renderDiagram(container, bytes, frame, maxPayload = 8) {
    container.replaceChildren();
    const cols = narrow.matches ? 8 : 32;
    const shownPayload = Math.min(frame.payloadLen, maxPayload, bytes.length - frame.headerLen);
    const totalBits = (frame.headerLen + shownPayload) * 8;
    const grid = el("div", { class: "dgrid", style: `--cols:${cols}` });
    // The ruler: bit numbers as in the figure.
    for (let c = 0; c < cols; c++) {
      grid.append(el("div", { class: "ruler", style: `grid-row:1;grid-column:${c + 1}`, text: String(c % 10) }));
      if (c % 10 === 0 && cols > 8) {
        grid.append(el("div", { class: "ruler tens", style: `grid-row:1;grid-column:${c + 1}`, text: String(c / 10), "aria-hidden": "true" }));
      }
    }
    const rows = Math.ceil(totalBits / cols);
    for (const f of frame.fields) {
      const start = f.bitStart;
      const end = Math.min(f.bitStart + f.bitLen, totalBits);
      let first = true;
      for (let s = start; s < end;) {
        const line = Math.floor(s / cols);
        const e = Math.min(end, (line + 1) * cols);
        const span = e - s;
        let value = f.key === "payload" ? showPayload(frame.unmasked.subarray(0, shownPayload), 20) : fieldValueText(f);
        if (f.key === "payload" && frame.masked) value = `bits as masked on the wire; unmasked ${value}`;
        const label = first ? (span >= 4 || cols === 8 && span >= 3 ? `${FIELDS[f.key].short}: ${value}` : FIELDS[f.key].short)
          : `${FIELDS[f.key].short} (cont.)`;
        grid.append(el("div", {
          class: `dlabel f-${f.key}${span === 1 ? " bit1" : ""}`,
          style: `grid-row:${2 + line * 2};grid-column:${(s % cols) + 1} / span ${span}`,
          title: `${FIELDS[f.key].short} = ${fieldValueText(f)}`,
          "data-field": f.key,
          text: label,
        }));
        for (let b = s; b < e; b++) {
          grid.append(el("div", {
            class: `dbit f-${f.key}${b % 8 === 0 ? " byte-start" : ""}`,
            style: `grid-row:${3 + line * 2};grid-column:${(b % cols) + 1}`,
            text: String(bitAt(bytes, b)),
          }));
        }
        first = false;
        s = e;
      }
    }
    container.append(grid);
    const more = frame.payloadLen - shownPayload;
    if (more > 0) {
      container.append(el("p", { class: "more f-payload" },
        `… ${more.toLocaleString("en")} more bytes of Payload Data (${rows} rows shown)`));
    }
    container.setAttribute("aria-label",
      `Bit diagram: ${frame.fields.map((f) => `${FIELDS[f.key].short} ${fieldValueText(f)}`).join(", ")}`);
  }

  /** The field each bit of the frame belongs to. */
  function bitOwners(frame, nbits) {
    const owner = new Array(nbits).fill("payload");
    for (const f of frame.fields) {
      for (let b = f.bitStart; b < Math.min(f.bitStart + f.bitLen, nbits); b++) owner[b] = f.key;
    }
    return owner;
  }

  /** Hex and binary of each byte, every bit coloured by the field it belongs to. */
  function renderBytes(container, bytes, frame, maxPayload = 64) {
    container.replaceChildren();
    const n = Math.min(bytes.length, frame ? frame.headerLen + maxPayload : bytes.length);
    const owner = frame ? bitOwners(frame, n * 8) : null;
    const list = el("ol", { class: "bytelist" });
    for (let i = 0; i < n; i++) {
      const bits = el("span", { class: "bin" });
      for (let j = 0; j < 8; j++) {
        bits.append(el("span", { class: owner ? `f-${owner[i * 8 + j]}` : "", text: String((bytes[i] >> (7 - j)) & 1) }));
      }
      const whole = owner && owner[i * 8] === owner[i * 8 + 7] ? ` f-${owner[i * 8]}` : " f-mixed";
      list.append(el("li", { class: `byte${whole}`, title: `byte ${i}` },
        el("span", { class: "idx", text: String(i) }),
        el("span", { class: "hex", text: hex2(bytes[i]) }),
        bits));
    }
    container.append(list);
    if (bytes.length > n) {
      container.append(el("p", { class: "more", text: `… ${(bytes.length - n).toLocaleString("en")} more bytes` }));
    }
    container.append(el("p", { class: "hexline" }, el("span", { class: "sr-label", text: "All bytes in hex: " }),
      el("code", { text: bytes.length > 256 ? `${hex(bytes.subarray(0, 256))} …` : hex(bytes) })));
  }

  function renderFieldTable(tbody, frame) {
    tbody.replaceChildren();
    for (const f of frame.fields) {
      const info = FIELDS[f.key];
      const bits = f.bitLen === 1 ? `${f.bitStart}` : `${f.bitStart}–${f.bitStart + f.bitLen - 1}`;
      let section = info.section;
      if (f.key === "payload") section = frame.isControl ? "5.5" : "5.6";
      tbody.append(el("tr", { "data-field": f.key, "data-value": String(fieldValueNumber(f) instanceof Uint8Array ? hex(f.value) : fieldValueNumber(f)) },
        el("th", { scope: "row" }, el("span", { class: `swatch f-${f.key}`, "aria-hidden": "true" }), info.short),
        el("td", { class: "mono", text: f.key === "payload" ? `from ${f.bitStart}` : bits }),
        el("td", { class: "mono value", text: fieldValueText(f) }),
        el("td", { text: info.meaning(fieldValueNumber(f)) }),
        el("td", {}, rfcLink(section))));
    }
  }

  /** payload[i] XOR key[i mod 4], one row per octet, with the codec's answer. */
  function renderMasking(container, payload, key, masked, max = 16) {
    container.replaceChildren();
    if (!key) {
      container.append(el("p", { class: "note", text: "MASK = 0: the payload goes on the wire as it is. Only client-to-server frames are masked (§5.1)." }));
      return;
    }
    if (payload.length === 0) {
      container.append(el("p", { class: "note", text: "The payload is empty: there is nothing to mask, but the key is still sent." }));
      return;
    }
    const table = el("table", { class: "masking" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: "i" }),
        el("th", { scope: "col", text: "payload[i]" }),
        el("th", { scope: "col", text: "key[i mod 4]" }),
        el("th", { scope: "col", text: "XOR = on the wire" }))));
    const body = el("tbody");
    const n = Math.min(payload.length, max);
    for (let i = 0; i < n; i++) {
      const p = payload[i], k = key[i % 4], m = masked[i];
      const ch = p >= 0x20 && p < 0x7f ? ` '${String.fromCharCode(p)}'` : "";
      body.append(el("tr", { "data-i": i },
        el("td", { class: "mono", text: String(i) }),
        el("td", { class: "mono" }, `0x${hex2(p)}${ch}`, el("br"), el("span", { class: "bin", text: bin8(p) })),
        el("td", { class: "mono" }, `key[${i % 4}] = 0x${hex2(k)}`, el("br"), el("span", { class: "bin", text: bin8(k) })),
        el("td", { class: "mono f-payload" }, `0x${hex2(m)}`, el("br"), el("span", { class: "bin", text: bin8(m) }))));
    }
    table.append(body);
    container.append(table);
    if (payload.length > n) {
      container.append(el("p", { class: "more", text: `… and so on for the other ${(payload.length - n).toLocaleString("en")} octets.` }));
    }
  }

  // ---------------------------------------------------------------- 1. composer
  const RFC_EXAMPLES = [
    { id: "hello", name: "A single-frame unmasked text message", payload: "Hello", kind: "text", opcode: 1, fin: true, mask: "none",
      wire: "81 05 48 65 6c 6c 6f", role: "client" },
    { id: "hello-masked", name: "A single-frame masked text message", payload: "Hello", kind: "text", opcode: 1, fin: true, mask: "37 fa 21 3d",
      wire: "81 85 37 fa 21 3d 7f 9f 4d 51 58", role: "server" },
    { id: "hel", name: "A fragmented unmasked text message, first fragment", payload: "Hel", kind: "text", opcode: 1, fin: false, mask: "none",
      wire: "01 03 48 65 6c", role: "client" },
    { id: "lo", name: "A fragmented unmasked text message, last fragment", payload: "lo", kind: "text", opcode: 0, fin: true, mask: "none",
      wire: "80 02 6c 6f", role: "client" },
    { id: "ping", name: "Unmasked Ping request", payload: "Hello", kind: "text", opcode: 9, fin: true, mask: "none",
      wire: "89 05 48 65 6c 6c 6f", role: "client" },
    { id: "pong", name: "Masked Ping response (Pong)", payload: "Hello", kind: "text", opcode: 10, fin: true, mask: "37 fa 21 3d",
      wire: "8a 85 37 fa 21 3d 7f 9f 4d 51 58", role: "server" },
    { id: "bin256", name: "256 bytes binary message in a single unmasked frame", payload: "256", kind: "zeros", opcode: 2, fin: true, mask: "none",
      wireHead: "82 7e 01 00", role: "client" },
    { id: "bin64k", name: "64 KiB binary message in a single unmasked frame", payload: "65536", kind: "zeros", opcode: 2, fin: true, mask: "none",
      wireHead: "82 7f 00 00 00 00 00 01 00 00", role: "client" },
  ];

  let randomKey = randomBytes(4);

  function composerPayload() {
    const text = $("#c-payload").value;
    switch ($("#c-payload-kind").value) {
      case "hex": return parseHex(text);
      case "zeros": {
        const n = Number(text.trim());
        if (!Number.isInteger(n) || n < 0 || n > 1 << 20) throw new Error("type a number of bytes from 0 to 1048576");
        return new Uint8Array(n);
      }
      default: return encoder.encode(text);
    }
  }

  function composerKey() {
    const mode = $('input[name="c-mask"]:checked').value;
    if (mode === "none") return null;
    if (mode === "random") return randomKey;
    const key = parseHex($("#c-key").value);
    if (key.length !== 4) throw new Error(`the masking key is 4 bytes; ${key.length} typed`);
    return key;
  }

  function renderComposer() {
    const errorBox = $("#c-error");
    $("#c-key").disabled = $('input[name="c-mask"]:checked').value !== "typed";
    let payload, key, wire;
    try {
      payload = composerPayload();
      key = composerKey();
      const rsv = ($("#c-rsv1").checked ? 4 : 0) | ($("#c-rsv2").checked ? 2 : 0) | ($("#c-rsv3").checked ? 1 : 0);
      wire = W.encodeFrame(Number($("#c-opcode").value), $("#c-fin").checked, rsv, payload, key ?? undefined);
    } catch (e) {
      errorBox.textContent = `Cannot encode: ${e.message}`;
      errorBox.hidden = false;
      $("#c-out").classList.add("stale");
      return;
    }
    errorBox.hidden = true;
    $("#c-out").classList.remove("stale");
    const frame = W.decodeFrame(wire);
    const out = $("#c-out");
    out.dataset.hex = hex(wire.subarray(0, 64));
    out.dataset.length = String(wire.length);
    renderDiagram($("#c-diagram"), wire, frame);
    renderBytes($("#c-bytes"), wire, frame);
    renderFieldTable($("#c-fields tbody"), frame);
    renderMasking($("#c-masking"), payload, key, frame.payload);
    renderVerdict(wire, frame);
    composed = { wire, frame };
  }
  let composed = null;

  /** Would a receiver accept this frame? The codec's own decoder answers. */
  function renderVerdict(wire, frame) {
    let box = $("#c-verdict");
    if (!box) {
      box = el("div", { id: "c-verdict", class: "verdict", "aria-live": "polite" });
      $("#c-out").prepend(box);
    }
    box.replaceChildren();
    const preset = RFC_EXAMPLES.find((p) => p.id === $("#c-preset").value);
    if (preset) {
      const expect = preset.wire ?? preset.wireHead;
      const got = hex(wire.subarray(0, parseHex(expect).length));
      const same = got === expect && (!preset.wire || wire.length === parseHex(expect).length);
      box.append(el("p", { class: same ? "ok" : "bad", id: "c-rfc-check" },
        same ? "✓ Byte for byte the frame printed in " : "✗ Differs from the frame printed in ",
        rfcLink("5.7"), `: ${expect}${preset.wire ? "" : " …"}`));
    }
    const role = frame.masked ? "server" : "client";
    const dec = new W.StepDecoder(role);
    const limit = Math.min(wire.length, 16384);
    let message = null;
    try {
      for (let i = 0; i < limit; i++) {
        const r = dec.push(wire[i]);
        if (r.message) message = r.message;
      }
      const who = role === "server" ? "A server" : "A client";
      let what = message ? `accepts it: a complete ${message.type} message` : "accepts it and waits for the next fragment";
      if (frame.opcode === 0 && !message) what = "accepts it as a continuation (after a first fragment)";
      if (limit < wire.length) what = `accepts its header and its first ${limit.toLocaleString("en")} bytes (the page checks no further)`;
      box.append(el("p", { class: "ok" }, `✓ ${who} receiving this frame ${what}.`));
      dec.free();
    } catch (e) {
      dec.free();
      const note = frame.opcode === 0 && e.kind === "UnexpectedContinuation"
        ? " On its own, that is: after a first fragment (FIN = 0) it continues the message." : "";
      box.append(el("p", { class: "bad" },
        `✗ A ${role} receiving this frame fails the connection with close ${e.closeCode} (${closeName(e.closeCode)}): ${e.message}. `,
        quoteReason(e.rfcReason), note));
    }
  }

  /** "§5.5: control frames MUST NOT be fragmented" -> a quote with a link. */
  function quoteReason(reason) {
    const m = /^§([\d.]+):\s*(.*)$/.exec(reason || "");
    if (!m) return el("q", { text: reason || "" });
    return el("span", { class: "reason" }, rfcLink(m[1]), " ", el("q", { text: m[2] }));
  }

  function applyPreset(p) {
    $("#c-payload").value = p.payload;
    $("#c-payload-kind").value = p.kind;
    $("#c-opcode").value = String(p.opcode);
    $("#c-fin").checked = p.fin;
    for (const id of ["#c-rsv1", "#c-rsv2", "#c-rsv3"]) $(id).checked = false;
    if (p.mask === "none") $('input[name="c-mask"][value="none"]').checked = true;
    else {
      $('input[name="c-mask"][value="typed"]').checked = true;
      $("#c-key").value = p.mask;
    }
  }

  function initComposer() {
    const sel = $("#c-preset");
    for (const p of RFC_EXAMPLES) sel.append(el("option", { value: p.id, text: p.name }));
    sel.addEventListener("change", () => {
      const p = RFC_EXAMPLES.find((x) => x.id === sel.value);
      if (p) applyPreset(p);
      renderComposer();
    });
    const form = $("#compose-form");
    form.addEventListener("submit", (e) => e.preventDefault());
    form.addEventListener("input", (e) => {
      if (e.target !== sel && sel.value) {
        // Edited away from the example: it is no longer that example.
        sel.value = "";
      }
      renderComposer();
    });
    $("#c-newkey").addEventListener("click", () => {
      randomKey = randomBytes(4);
      $('input[name="c-mask"][value="random"]').checked = true;
      renderComposer();
    });
    narrow.addEventListener("change", () => {
      if (composed) renderDiagram($("#c-diagram"), composed.wire, composed.frame);
    });
    renderComposer();
  }

  // ---------------------------------------------------------------- 2. live
  let ws = null;
  let opened = false;
  let exchangeCount = 0;
  const pendingEchoes = []; // {key, x}: messages sent whose echo is still to come
  const awaitingIn = []; // exchanges waiting for the report of the frame the server received
  const awaitingOut = []; // ... and of the frame the server sent back
  const liveFrames = []; // {label, hex, role} for the stepper

  function setStatus(box, state, text) {
    box.dataset.state = state;
    box.textContent = text;
  }

  function defaultUrl() {
    if (location.protocol === "http:" || location.protocol === "https:") {
      return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/inspect`;
    }
    return "ws://127.0.0.1:9001/inspect";
  }

  function connect() {
    disconnect();
    const url = $("#l-url").value.trim();
    const status = $("#l-status");
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      setStatus(status, "error", `Not a WebSocket URL: ${e.message}`);
      return;
    }
    ws = sock;
    opened = false;
    sock.binaryType = "arraybuffer";
    setStatus(status, "connecting", `Connecting to ${url} …`);
    $("#l-connect").disabled = true;
    $("#l-disconnect").disabled = false;
    sock.onopen = () => {
      if (sock !== ws) return;
      opened = true;
      setStatus(status, "open", `Connected to ${url}. Send a message: each one shows the frames that really crossed the socket.`);
      $("#l-send").disabled = false;
      renderHandshake(null);
    };
    sock.onmessage = (ev) => { if (sock === ws) onLiveMessage(ev.data); };
    sock.onerror = () => { /* the close event that follows says what happened */ };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      $("#l-send").disabled = true;
      $("#l-connect").disabled = false;
      $("#l-disconnect").disabled = true;
      if (!opened) {
        setStatus(status, "error", `Could not connect to ${url}. Is wisp-server running? Start it with scripts/demo.sh `
          + "(wisp-server --listen 127.0.0.1:9001 --web web/), then press Connect. The composer, stepper and broken frames work without it.");
      } else {
        const reason = ev.reason ? `, reason “${ev.reason}”` : "";
        setStatus(status, "closed", `Connection closed: code ${ev.code} (${closeName(ev.code)})${reason}.`);
      }
    };
  }

  function disconnect() {
    if (ws) {
      const sock = ws;
      ws = null;
      sock.close(1000, "bye");
      setStatus($("#l-status"), "closed", "Disconnected (close 1000 sent).");
    }
    $("#l-send").disabled = true;
    $("#l-connect").disabled = false;
    $("#l-disconnect").disabled = true;
    pendingEchoes.length = 0;
    awaitingIn.length = 0;
    awaitingOut.length = 0;
  }

  function sendLive() {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const text = $("#l-message").value;
    const binary = $("#l-binary").checked;
    const payload = encoder.encode(text);
    const opcode = binary ? 2 : 1;
    exchangeCount += 1;
    const x = newExchange(exchangeCount, text, payload, opcode);
    pendingEchoes.push({ key: binary ? `bin:${hex(payload)}` : `text:${text}`, x });
    awaitingIn.push(x);
    awaitingOut.push(x);
    ws.send(binary ? payload : text);
  }

  function newExchange(n, text, payload, opcode) {
    // The prediction: every header bit is known; the key is the browser's choice.
    const withZeroKey = W.encodeFrame(opcode, true, 0, payload, new Uint8Array(4));
    const frame = W.decodeFrame(withZeroKey);
    const head = hex(withZeroKey.subarray(0, frame.headerLen - 4));
    const predicted = el("div", { class: "col predicted" },
      el("h4", { text: "The page's prediction" }),
      el("p", { class: "mono wire" }, head, " ", el("span", { class: "unknown", text: "?? ?? ?? ??" }),
        " ", el("span", { class: "unknown", text: payload.length ? `(${payload.length} bytes: payload XOR key)` : "" })),
      el("p", { class: "note" }, `FIN=1, ${opName(opcode)}, MASK=1, length ${payload.length}: all known before sending. `
        + "The masking key is not: the browser draws a fresh one for every frame (§5.3, §10.3), "
        + "so no script can choose the bytes on the wire."));
    const card = el("article", { class: "exchange", "data-n": n, "data-opcode": opcode },
      el("h3", {}, `Message ${n}: `, el("span", { class: "mono", text: showPayload(payload, 60) }), ` (${opName(opcode).toLowerCase()}, ${payload.length} bytes)`),
      el("div", { class: "cols" },
        predicted,
        el("div", { class: "col wire-in", "data-dir": "in" }, el("h4", { text: "Browser → server: the bytes the server received" }), el("p", { class: "note", text: "waiting for the server's report…" })),
        el("div", { class: "col wire-out", "data-dir": "out" }, el("h4", { text: "Server → browser: the bytes the server sent" }), el("p", { class: "note", text: "waiting for the server's report…" }))),
      el("ul", { class: "verdicts" }));
    const x = { n, card, payload, opcode, text };
    $("#l-exchanges").prepend(card);
    return x;
  }

  function onLiveMessage(data) {
    const binary = typeof data !== "string";
    const bytes = binary ? new Uint8Array(data) : encoder.encode(data);
    const key = binary ? `bin:${hex(bytes)}` : `text:${data}`;
    const i = pendingEchoes.findIndex((p) => p.key === key);
    if (i >= 0) {
      markEcho(pendingEchoes.splice(i, 1)[0].x, bytes, binary);
      return;
    }
    if (binary) {
      appendOther(el("p", {}, "Binary message: ", el("span", { class: "mono", text: showPayload(bytes) })));
      return;
    }
    let report;
    try {
      report = JSON.parse(data);
    } catch (_) {
      report = null;
    }
    if (report && report.type === "frame" && typeof report.hex === "string") onFrameReport(report);
    else if (report && report.type === "handshake") renderHandshake(report);
    else appendOther(el("p", {}, "Message: ", el("span", { class: "mono", text: data })));
  }

  function markEcho(x, bytes, binary) {
    x.card.dataset.echoed = "1";
    $(".verdicts", x.card).append(el("li", { class: "ok" },
      `✓ The echo arrived as a ${binary ? "binary" : "text"} message: ${showPayload(bytes, 60)}`));
  }

  function onFrameReport(report) {
    const bytes = parseHex(report.hex);
    let frame;
    try {
      frame = W.decodeFrame(bytes);
    } catch (e) {
      appendOther(el("p", { class: "bad", text: `A reported frame does not decode: ${e.message} (close ${e.closeCode})` }));
      return;
    }
    if (!frame) return;
    const dir = report.dir === "in" ? "in" : "out";
    const label = `Live: ${dir === "in" ? "browser → server" : "server → browser"} ${opName(frame.opcode)} (${bytes.length} bytes)`;
    liveFrames.push({ label, hex: hex(bytes), role: dir === "in" ? "server" : "client" });
    refreshStepperPresets();
    const isData = !frame.isControl;
    const queue = dir === "in" ? awaitingIn : awaitingOut;
    const x = isData ? queue.shift() : null;
    const view = wireView(bytes, frame, dir, report.truncated);
    if (!x) {
      appendOther(el("div", { class: "other-frame" }, el("h4", {
        text: `${dir === "in" ? "Browser → server" : "Server → browser"}: ${opName(frame.opcode)} frame`
          + (frame.opcode === 9 ? " (a keepalive ping)" : frame.opcode === 10 ? " (the automatic answer to a ping, §5.5.2)" : ""),
      }), view));
      return;
    }
    const col = $(dir === "in" ? ".wire-in" : ".wire-out", x.card);
    col.replaceChildren(col.firstChild, view);
    const verdicts = $(".verdicts", x.card);
    if (dir === "in") {
      const again = W.encodeFrame(x.opcode, true, 0, x.payload, frame.maskKey ?? undefined);
      const same = hex(again) === hex(bytes);
      verdicts.append(el("li", { class: frame.masked ? "ok" : "bad" },
        frame.masked ? `✓ MASK = 1: the browser masked its frame with key ${hex(frame.maskKey)}, as every client MUST (§5.1).`
          : "✗ MASK = 0: an unmasked client frame; the server MUST fail the connection (§5.1)."));
      $(".predicted", x.card).append(el("p", { class: "mono wire" },
        el("span", { class: "note", text: "With the browser's key filled in: " }), hex(again.subarray(0, 64)),
        again.length > 64 ? " …" : ""));
      verdicts.append(el("li", { class: same ? "ok" : "bad" },
        same ? "✓ With that key, the page's prediction equals the received bytes, every one."
          : "✗ With that key, the prediction differs from the received bytes (fragmented, or an extension?)."));
    } else {
      const predicted = W.encodeFrame(x.opcode, true, 0, x.payload, undefined);
      const same = hex(predicted) === hex(bytes);
      verdicts.append(el("li", { class: same ? "ok" : "bad" },
        same ? "✓ MASK = 0 and the server's frame equals the page's prediction byte for byte: a server never masks."
          : "✗ The server's frame differs from the prediction."));
    }
  }

  /** A reported frame: its bytes by field, and its decoded fields. */
  function wireView(bytes, frame, dir, truncated) {
    const box = el("div", { class: "wire-view", "data-dir": dir, "data-mask": frame.masked ? "1" : "0",
      "data-opcode": frame.opcode, "data-len": frame.payloadLen, "data-fin": frame.fin ? "1" : "0",
      "data-payload": lossy.decode(frame.unmasked) });
    const bytesBox = el("div", { class: "bytes compact" });
    renderBytes(bytesBox, bytes, frame, 24);
    const dl = el("dl", { class: "decoded" });
    const row = (k, v, key) => dl.append(el("dt", {}, el("span", { class: `swatch f-${key}`, "aria-hidden": "true" }), k), el("dd", { class: "mono", "data-key": key, text: v }));
    row("FIN", frame.fin ? "1" : "0", "fin");
    row("RSV1-3", frame.rsv.toString(2).padStart(3, "0"), "rsv1");
    row("opcode", `${opHex(frame.opcode)} ${opName(frame.opcode)}`, "opcode");
    row("MASK", frame.masked ? "1" : "0", "mask");
    row("Payload length", frame.payloadLenText, "len7");
    if (frame.masked) row("Masking-key", hex(frame.maskKey), "maskkey");
    row(frame.masked ? "Payload, unmasked" : "Payload", showPayload(frame.unmasked, 120), "payload");
    box.append(bytesBox, dl);
    if (truncated) box.append(el("p", { class: "note", text: "The server showed only the first 64 KiB of this frame." }));
    return box;
  }

  function appendOther(node) {
    let box = $("#l-other");
    if (!box) {
      box = el("details", { id: "l-other", class: "panel other", open: true },
        el("summary", { text: "Other frames on this connection (pings, pongs, …)" }));
      $("#l-exchanges").after(box);
    }
    box.append(node);
  }

  /**
   * The handshake panel. Browsers never show the handshake to scripts; if the server
   * reports it ({"type":"handshake","request":"...","response":"..."}), the real heads
   * are checked here, else the page shows the request the codec would send.
   */
  function renderHandshake(report) {
    const box = $("#l-handshake");
    box.replaceChildren();
    if (report && typeof report.request === "string") {
      const req = encoder.encode(report.request);
      let parsed = null, problem = null;
      try {
        parsed = W.parseRequest(req);
      } catch (e) {
        problem = `${e.message} (HTTP ${e.status})`;
      }
      const sent = /^sec-websocket-accept:\s*(\S+)\s*$/im.exec(report.response || "");
      box.append(
        el("div", { class: "cols" },
          el("div", { class: "col" }, el("h4", { text: "Request the server received" }), el("pre", { text: report.request.trimEnd() })),
          el("div", { class: "col" }, el("h4", { text: "Response the server sent" }), el("pre", { text: (report.response || "").trimEnd() }))));
      if (parsed) {
        const ok = sent && sent[1] === parsed.acceptKey;
        box.append(el("p", { class: ok ? "ok" : "bad", id: "l-accept-check" },
          `${ok ? "✓" : "✗"} Recomputed in wasm: base64(SHA-1("${parsed.key}" + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) = `,
          el("code", { text: parsed.acceptKey }), ok ? ", the Sec-WebSocket-Accept the server sent " : `; the server sent ${sent ? sent[1] : "none"} `,
          rfcLink("4.2.2")));
      } else if (problem) {
        box.append(el("p", { class: "bad", text: `The codec rejects the request: ${problem}` }));
      }
      return;
    }
    const url = new URL(ws ? ws.url : $("#l-url").value);
    const nonce = randomBytes(16);
    const built = W.clientRequest(url.host, url.pathname + url.search, nonce);
    box.append(
      el("p", { class: "note" }, "Browsers do not let scripts see the opening handshake, and this server did not report it. "
        + "Here is the request the codec builds for this URL with a random nonce, and the answer a server must compute:"),
      el("pre", { text: built.request.trimEnd() }),
      el("p", { id: "l-accept-check" }, "Sec-WebSocket-Accept = base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")) = ",
        el("code", { text: W.acceptKey(built.key) }), " ", rfcLink("1.3"), " (for the RFC's own key ",
        el("code", { text: "dGhlIHNhbXBsZSBub25jZQ==" }), " the codec gives ", el("code", { text: W.acceptKey("dGhlIHNhbXBsZSBub25jZQ==") }), ")."));
    if (ws) {
      box.append(el("p", { class: "note" },
        `Negotiated by the real handshake: subprotocol “${ws.protocol || "none"}”, extensions “${ws.extensions || "none"}”. `
        + "Chromium offers permessage-deflate; with no extension accepted, RSV1-3 stay 0 and payloads are not compressed."));
    }
  }

  function initLive() {
    $("#l-url").value = defaultUrl();
    $("#live-connect").addEventListener("submit", (e) => { e.preventDefault(); connect(); });
    $("#l-disconnect").addEventListener("click", disconnect);
    $("#live-send").addEventListener("submit", (e) => { e.preventDefault(); sendLive(); });
    if (location.protocol === "http:" || location.protocol === "https:") {
      connect(); // served by wisp-server: talk to it
    } else {
      setStatus($("#l-status"), "idle", "Opened from disk: start wisp-server (scripts/demo.sh), check the URL and press Connect.");
    }
  }

  // ---------------------------------------------------------------- 3. stepper
  const step = { bytes: new Uint8Array(0), pos: 0, dec: null, error: null, errorAt: -1, frameData: [], log: [], done: [] };

  function stepperPresets() {
    const list = RFC_EXAMPLES.filter((p) => p.wire).map((p) => ({ label: `§5.7 ${p.name}`, hex: p.wire, role: p.role }));
    list.splice(4, 0, { label: "§5.7 Both fragments, \"Hel\" + \"lo\"", hex: "01 03 48 65 6c 80 02 6c 6f", role: "client" });
    list.push({ label: "§5.7 256 bytes binary (header + 256 zero bytes)", hex: `82 7e 01 00 ${Array(256).fill("00").join(" ")}`, role: "client" });
    return list.concat(liveFrames);
  }

  function refreshStepperPresets() {
    const sel = $("#s-preset");
    const keep = sel.value;
    sel.replaceChildren(el("option", { value: "", text: "(typed bytes)" }));
    stepperPresets().forEach((p, i) => sel.append(el("option", { value: String(i), text: p.label })));
    sel.value = keep;
  }

  function stepperLoad() {
    if (step.dec) step.dec.free();
    step.dec = new W.StepDecoder($("#s-role").value);
    step.pos = 0;
    step.error = null;
    step.errorAt = -1;
    step.frameData = [];
    step.log = [];
    step.last = null;
    try {
      step.bytes = parseHex($("#s-hex").value);
      step.parseError = null;
    } catch (e) {
      step.bytes = new Uint8Array(0);
      step.parseError = e.message;
    }
    renderStepper();
  }

  /** Feeds one byte; returns the codec's report, or null at the end or after an error. */
  function stepOnce() {
    if (step.error || step.pos >= step.bytes.length) return null;
    const i = step.pos;
    const b = step.bytes[i];
    step.pos += 1;
    let r;
    try {
      r = step.dec.push(b);
    } catch (e) {
      step.error = e;
      step.errorAt = i;
      step.log.push({ cls: "bad", text: `byte ${i} (0x${hex2(b)}): ${e.name}: ${e.message} → the connection fails with close ${e.closeCode} (${closeName(e.closeCode)})` });
      return null;
    }
    step.last = r;
    if (r.event === "header") step.frameData = [];
    step.frameData.push(...r.data);
    let text;
    if (r.event === "need-more") {
      text = `byte ${i} (0x${hex2(b)}): kept; the header is not complete (${r.buffered.length} byte${r.buffered.length > 1 ? "s" : ""} held)`;
    } else if (r.event === "header") {
      const h = r.header;
      text = `byte ${i} (0x${hex2(b)}): header complete (${h.headerLen} bytes): FIN=${h.fin ? 1 : 0} ${opName(h.opcode)} MASK=${h.masked ? 1 : 0} length ${h.payloadLenText}`;
    } else {
      const d = r.data[0];
      const ch = d >= 0x20 && d < 0x7f ? ` '${String.fromCharCode(d)}'` : "";
      text = `byte ${i} (0x${hex2(b)}): payload byte ${r.received} of ${r.header.payloadLenText}${r.header.masked ? `, unmasked 0x${hex2(d)}${ch}` : ""}`;
    }
    if (r.last) text += " — end of frame";
    step.log.push({ cls: r.event, text });
    if (r.message) {
      const m = r.message;
      const what = m.type === "text" ? JSON.stringify(m.text)
        : m.type === "close" ? (m.code === null ? "no status code" : `code ${m.code}${m.reason ? ` “${m.reason}”` : ""}`)
          : showPayload(m.data);
      step.log.push({ cls: "ok", text: `→ message complete: ${m.type} ${what}` });
    }
    return r;
  }

  function renderStepper() {
    const view = $("#s-view");
    const bytesBox = $("#s-bytes");
    bytesBox.replaceChildren();
    view.dataset.pos = String(step.pos);
    view.dataset.state = step.error ? "error" : step.last ? step.last.state : "header";
    view.dataset.end = step.pos >= step.bytes.length ? "1" : "0";
    if (step.parseError) {
      bytesBox.append(el("p", { class: "error", role: "alert", text: `Cannot read the bytes: ${step.parseError}` }));
    }
    const list = el("ol", { class: "bytelist stream" });
    const max = Math.min(step.bytes.length, 600);
    for (let i = 0; i < max; i++) {
      const cls = i === step.errorAt ? "err" : i < step.pos ? "done" : i === step.pos ? "next" : "";
      list.append(el("li", { class: `byte ${cls}`, "aria-current": i === step.pos && !step.error ? "step" : null, title: `byte ${i}` },
        el("span", { class: "idx", text: String(i) }), el("span", { class: "hex", text: hex2(step.bytes[i]) })));
    }
    bytesBox.append(list);
    if (step.bytes.length > max) bytesBox.append(el("p", { class: "more", text: `… ${step.bytes.length - max} more bytes` }));

    const st = $("#s-state");
    st.replaceChildren();
    const dl = (box, k, v, attrs = {}) => box.append(el("dt", { text: k }), el("dd", { class: "mono", ...attrs, text: v }));
    const s = step.dec.state();
    dl(st, "bytes fed", `${step.pos} of ${step.bytes.length}`, { id: "s-offset" });
    dl(st, "state", step.error ? "failed" : s.state === "header" ? "Header: reading a header (or between frames)" : "Payload: reading payload bytes", { id: "s-statename" });
    dl(st, "header bytes held", s.buffered.length ? hex(s.buffered) : "none");
    if (s.header) dl(st, "payload received", `${s.received} of ${s.header.payloadLenText}`, { id: "s-received" });
    if (step.error) {
      dl(st, "error", `close ${step.error.closeCode}: ${step.error.message}`, { id: "s-error", class: "mono bad" });
    }

    const kn = $("#s-known");
    kn.replaceChildren();
    const h = s.header;
    if (h) {
      dl(kn, "FIN", h.fin ? "1 (final fragment)" : "0 (more fragments follow)");
      dl(kn, "RSV1-3", h.rsv.toString(2).padStart(3, "0"));
      dl(kn, "opcode", `${opHex(h.opcode)} ${opName(h.opcode)}`, { id: "s-opcode" });
      dl(kn, "MASK", h.masked ? `1, key ${hex(h.maskKey)}` : "0");
      dl(kn, "payload length", h.payloadLenText, { id: "s-len" });
      const data = Uint8Array.from(step.frameData);
      dl(kn, h.masked ? "payload so far, unmasked" : "payload so far", showPayload(data, 80), { id: "s-payload" });
    } else if (s.buffered.length) {
      // The header is not whole: what its first bytes already say (§5.2 figure).
      const b = s.buffered;
      dl(kn, "FIN", String(b[0] >> 7));
      dl(kn, "RSV1-3", ((b[0] >> 4) & 7).toString(2).padStart(3, "0"));
      dl(kn, "opcode", `${opHex(b[0] & 15)} ${opName(b[0] & 15)}`);
      if (b.length >= 2) {
        const len7 = b[1] & 127, masked = b[1] >> 7;
        const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
        dl(kn, "MASK", String(masked));
        dl(kn, "Payload len (7 bits)", len7 <= 125 ? String(len7) : `${len7}: the length is in the next ${len7 === 126 ? 2 : 8} bytes`);
        dl(kn, "header length", `${need} bytes; ${need - b.length} still to come`);
      } else {
        dl(kn, "next", "byte 1 holds MASK and the 7-bit payload length");
      }
    } else {
      kn.append(el("p", { class: "note", text: step.pos ? "Between frames: the next byte starts a new header." : "Nothing yet: press Step." }));
    }

    const log = $("#s-log");
    log.replaceChildren();
    if (step.log.length === 0) log.append(el("li", { class: "note", text: "No byte fed yet." }));
    const from = Math.max(0, step.log.length - 300);
    if (from > 0) log.append(el("li", { class: "note", text: `(${from} earlier events not shown)` }));
    for (const entry of step.log.slice(from)) log.append(el("li", { class: entry.cls, text: entry.text }));
    log.scrollTop = log.scrollHeight;
    $("#s-step").disabled = $("#s-frame").disabled = $("#s-all").disabled = !!step.error || step.pos >= step.bytes.length;
  }

  function initStepper() {
    refreshStepperPresets();
    const sel = $("#s-preset");
    sel.addEventListener("change", () => {
      const p = stepperPresets()[Number(sel.value)];
      if (sel.value !== "" && p) {
        $("#s-hex").value = p.hex;
        $("#s-role").value = p.role;
      }
      stepperLoad();
    });
    $("#s-hex").addEventListener("input", () => { sel.value = ""; stepperLoad(); });
    $("#s-role").addEventListener("change", stepperLoad);
    $("#s-step").addEventListener("click", () => { stepOnce(); renderStepper(); });
    $("#s-frame").addEventListener("click", () => {
      for (let r = stepOnce(); r && !r.last; r = stepOnce());
      renderStepper();
    });
    $("#s-all").addEventListener("click", () => {
      while (stepOnce());
      renderStepper();
    });
    $("#s-reset").addEventListener("click", stepperLoad);
    $("#step-form").addEventListener("submit", (e) => e.preventDefault());
    sel.value = "1"; // the masked "Hello"
    const p = stepperPresets()[1];
    $("#s-hex").value = p.hex;
    $("#s-role").value = p.role;
    stepperLoad();
  }

  // ---------------------------------------------------------------- 4. errors
  const K = "37 fa 21 3d";
  const BROKEN = [
    { id: "unmasked", name: "Unmasked client frame", role: "server", hex: "81 05 48 65 6c 6c 6f",
      why: "A text frame \"Hello\" sent to a server with MASK = 0." },
    { id: "reserved-opcode", name: "Reserved opcode 0x3", role: "server", hex: `83 80 ${K}`,
      why: "Opcodes 0x3-0x7 and 0xB-0xF are reserved for future use." },
    { id: "fragmented-ping", name: "Fragmented ping", role: "server", hex: `09 80 ${K}`,
      why: "A ping with FIN = 0: control frames may be injected between fragments, but never fragmented themselves." },
    { id: "close-1-byte", name: "Close with a 1-byte payload", role: "server", hex: `88 81 ${K} 34`,
      why: "A close body is a 2-byte code, then an optional reason; one byte is neither." },
    { id: "invalid-utf8", name: "Invalid UTF-8 in a text frame", role: "server", hex: `81 82 ${K} 56 05`,
      why: "The payload unmasks to 61 ff: 'a', then 0xff, which no UTF-8 sequence contains." },
    { id: "length-top-bit", name: "64-bit length with the top bit set", role: "client", hex: "82 7f 80 00 00 00 00 00 00 05",
      why: "The 64-bit extended length is 2^63 + 5: its most significant bit must be 0." },
    { id: "rsv1", name: "RSV1 without an extension", role: "server", hex: `c1 80 ${K}`,
      why: "RSV1 is set, but no extension (such as permessage-deflate) was negotiated." },
    { id: "masked-server", name: "Masked server frame", role: "client", hex: `81 80 ${K}`,
      why: "A server sent a masked frame to a client." },
    { id: "big-ping", name: "Ping with 126 bytes", role: "server", hex: "89 fe 00 7e",
      why: "Control frames carry at most 125 bytes, so their length always fits the 7-bit field." },
    { id: "close-1005", name: "Close code 1005 on the wire", role: "server", hex: `88 82 ${K} 34 17`,
      why: "1005 means “no status code was present”; it is reserved and never sent." },
  ];

  function runBroken(p) {
    const box = $("#e-result");
    box.replaceChildren();
    const bytes = parseHex(p.hex);
    const dec = new W.StepDecoder(p.role);
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
    bytes.forEach((b, i) => list.append(el("li", { class: `byte ${i === at ? "err" : i < at ? "done" : ""}`, title: `byte ${i}` },
      el("span", { class: "idx", text: String(i) }), el("span", { class: "hex", text: hex2(b) }))));
    box.append(el("h3", { text: p.name }),
      el("p", {}, `${p.why} Decoded as a ${p.role} (the receiver of ${p.role === "server" ? "masked client" : "server"} frames):`),
      el("div", { class: "bytes" }, list));
    if (!error) {
      box.dataset.closeCode = "";
      box.append(el("p", { class: "ok", text: "The codec accepts these bytes." }));
      return;
    }
    box.dataset.closeCode = String(error.closeCode);
    box.append(
      el("p", { class: "close-code" }, el("span", { class: "code", id: "e-code", text: String(error.closeCode) }),
        ` ${closeName(error.closeCode)}`),
      el("p", {}, `The codec fails the connection at byte ${at}, the first byte that makes the error certain: `,
        el("strong", { text: error.message }), ` (${error.kind}).`),
      el("blockquote", { id: "e-reason" }, quoteReason(error.rfcReason)),
      el("p", {}, el("button", { type: "button", onclick: () => {
        $("#s-preset").value = "";
        $("#s-hex").value = p.hex;
        $("#s-role").value = p.role;
        stepperLoad();
        $("#stepper").scrollIntoView();
        $("#s-step").focus();
      } }, "Step through it in the stepper")));
  }

  function initErrors() {
    const box = $("#e-presets");
    for (const p of BROKEN) {
      box.append(el("button", { type: "button", "data-preset": p.id, onclick: (ev) => {
        $$("#e-presets button").forEach((b) => b.setAttribute("aria-pressed", "false"));
        ev.currentTarget.setAttribute("aria-pressed", "true");
        runBroken(p);
      }, "aria-pressed": "false" }, p.name));
    }
  }

  // ---------------------------------------------------------------- start
  async function main() {
    const status = $("#wasm-status");
    try {
      const { api, how } = await loadCodec();
      W = api;
      setStatus(status, "ready", `Codec loaded: wisp-codec compiled to WebAssembly, from ${how}.`);
    } catch (e) {
      setStatus(status, "error", `The codec did not load (${e.message}). Build it with scripts/build-web.sh, then reload.`);
      document.body.classList.add("no-codec");
      return;
    }
    initComposer();
    initStepper();
    initErrors();
    initLive();
    document.body.dataset.ready = "1";
  }

  main();
})();
