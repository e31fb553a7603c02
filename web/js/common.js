// Wisp demo page, shared by every panel: small DOM and byte helpers, the RFC tables,
// the codec loader and the frame views (the §5.2 diagram, bytes, fields, masking).
//
// The page is classic scripts in one namespace, `window.Wisp` (file:// rules out ES
// modules): this file first, then one file per panel (composer.js, live.js, timeline.js,
// stepper.js, errors.js), then main.js, which loads the codec and starts them.
// Every protocol decision is the codec's: the page only draws what the codec returns
// (see wasm/src/lib.rs for its API).
"use strict";

window.Wisp = window.Wisp || {};

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

  /**
   * Shows bytes as text when they are printable UTF-8, else as hex; a cut or hex payload
   * gets its size, unless `sized` is false (the caller prints the size itself).
   */
  function showPayload(bytes, max = 200, sized = true) {
    if (bytes.length === 0) return "(empty)";
    const size = sized ? ` (${bytes.length.toLocaleString("en")} bytes)` : "";
    try {
      const t = strict.decode(bytes);
      if (!/[\u0000-\u0008\u000e-\u001f\u007f]/.test(t)) {
        const s = JSON.stringify(t.length > max ? t.slice(0, max) : t);
        return t.length > max ? `${s}…${size}` : s;
      }
    } catch (_) { /* not UTF-8: fall through to hex */ }
    const shown = bytes.length > 32 ? `${hex(bytes.subarray(0, 32))} …` : hex(bytes);
    return `${shown}${size}`;
  }

  /** "3 %", "0.4 %", "0.008 %": a share that never rounds to a false 0 %. */
  function percent(a, b) {
    if (!b) return "–";
    const v = (100 * a) / b;
    if (v === 0 || v >= 10) return `${Math.round(v)} %`;
    return `${Number(v.toPrecision(v >= 1 ? 2 : 1))} %`;
  }

  function randomBytes(n) {
    return crypto.getRandomValues(new Uint8Array(n));
  }

  const OPCODES = {
    0: ["Continuation", "continues a fragmented message (§5.4)", "5.4"],
    1: ["Text", "the payload is UTF-8 text (§5.6)", "5.6"],
    2: ["Binary", "the payload is arbitrary binary data (§5.6)", "5.6"],
    8: ["Close", "a control frame that starts or answers the closing handshake (§5.5.1)", "5.5.1"],
    9: ["Ping", "a control frame: a keepalive or a check; the peer MUST answer with a Pong (§5.5.2)", "5.5.2"],
    10: ["Pong", "a control frame: the answer to a Ping, with the same application data, or unsolicited, as a one-way heartbeat that gets no answer (§5.5.3)", "5.5.3"],
  };
  const opName = (op) => (OPCODES[op] ? OPCODES[op][0] : "reserved");
  const opHex = (op) => `0x${op.toString(16).toUpperCase()}`;

  /** A close code's registered name, or "": the codec's one table (CloseCode::name). */
  const closeName = (code) => Wisp.codec.closeCodeName(code) ?? "";

  /** Why clients mask, in one sentence (§10.3). */
  const WHY_MASK = "Masking exists for proxies, not secrecy: a script that cannot choose the bytes on the wire cannot "
    + "make a frame look like an HTTP request to a confused proxy and poison its cache (§10.3).";

  /** What each field of the §5.2 figure means, given its value. */
  const FIELDS = {
    fin: { short: "FIN", section: "5.2",
      meaning: (v) => v ? "1: this is the final fragment of a message" : "0: more fragments of this message follow (§5.4)" },
    rsv1: { short: "RSV1", section: "5.2", meaning: (v, ctx) => ctx && ctx.deflate ? rsv1Deflate(v, ctx) : rsvMeaning(v) },
    rsv2: { short: "RSV2", section: "5.2", meaning: rsvMeaning },
    rsv3: { short: "RSV3", section: "5.2", meaning: rsvMeaning },
    opcode: { short: "opcode", section: "5.2",
      meaning: (v) => `${opHex(v)} ${opName(v)}: ${OPCODES[v] ? OPCODES[v][1] : "reserved, a receiver MUST fail the connection"}` },
    mask: { short: "MASK", section: "5.3",
      meaning: (v) => v ? `1: the payload is masked with the masking key; a client MUST mask every frame it sends (§5.1). ${WHY_MASK}`
        : "0: not masked; a server MUST NOT mask the frames it sends (§5.1)" },
    len7: { short: "Payload len", section: "5.2",
      meaning: (v) => v <= 125 ? `${v}: the payload length itself (0-125)`
        : v === 126 ? "126: the length follows in the next 2 bytes" : "127: the length follows in the next 8 bytes" },
    extlen: { short: "Extended payload length", section: "5.2",
      meaning: (v) => `${v}: an unsigned integer in network byte order. The sender MUST use the minimal number of bytes (§5.2); `
        + "that rule binds the sender: a receiver is not told to refuse a longer form, and the codec accepts one" },
    maskkey: { short: "Masking-key", section: "5.3",
      meaning: () => "32 bits the client picks at random for each frame; payload octet i is XORed with key octet i mod 4" },
    payload: { short: "Payload Data", section: "5.2",
      meaning: (v, ctx) => ctx && ctx.deflate && ctx.rsv1
        ? `${v} bytes of compressed data: permessage-deflate is agreed and RSV1 = 1, so the receiver inflates them (RFC 7692 §7.2.2)`
        : ctx && ctx.deflate ? `${v} bytes of application data (permessage-deflate is agreed, but RSV1 = 0: not compressed)`
          : `${v} bytes of application data (extension data would come first, but no extension is negotiated)` },
  };
  function rsvMeaning(v) {
    return v ? "1: reserved; without a negotiated extension that defines it, a receiver MUST fail the connection"
      : "0: reserved for extensions (e.g. RSV1 for permessage-deflate); none is negotiated";
  }
  function rsv1Deflate(v, ctx) {
    if (!v) return "0: permessage-deflate is agreed, but this frame does not start a compressed message";
    return ctx.opcode === 0 || ctx.opcode >= 8
      ? "1: “Per-Message Compressed”, but only a data message's first frame may carry it: a receiver MUST fail the connection (RFC 7692 §6.1)"
      : "1: “Per-Message Compressed”: permessage-deflate is agreed (RFC 7692 §6), so this message's payload is compressed";
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

  /** RFC text as the RFC writes it: `_Fail the WebSocket Connection_` is emphasis. */
  function rfcText(text) {
    const out = [];
    text.split(/_([^_]+)_/).forEach((part, i) => {
      if (part) out.push(i % 2 ? el("em", { text: part }) : part);
    });
    return out;
  }

  /** An RFC sentence, quoted word for word, with a link to its section. */
  function rfcQuote(section, text) {
    return el("span", { class: "reason" }, rfcLink(section), " ", el("q", {}, rfcText(text)));
  }

  /** The codec's "§5.5: All control frames ..." -> a quote with a link. */
  function quoteReason(reason) {
    const x = /^RFC 7692 §([\d.]+):\s*(.*)$/.exec(reason || "");
    if (x) {
      return el("span", { class: "reason" }, el("a", { class: "rfc", href: `https://www.rfc-editor.org/rfc/rfc7692#section-${x[1]}`,
        title: `RFC 7692 section ${x[1]}` }, `RFC 7692 §${x[1]}`), " ", el("q", {}, rfcText(x[2])));
    }
    const m = /^§([\d.]+):\s*(.*)$/.exec(reason || "");
    if (!m) return el("q", {}, rfcText(reason || ""));
    return rfcQuote(m[1], m[2]);
  }

  function setStatus(box, state, text) {
    box.dataset.state = state;
    box.textContent = text;
  }

  /** "Close 4000 “bye”", "Close (no status code)": a close frame's body in words. */
  function closeText(code, reason) {
    if (code === null || code === undefined || code === 1005) return "no status code";
    const name = closeName(code) ? ` ${closeName(code)}` : "";
    return `code ${code}${name}${reason ? ` “${reason}”` : ""}`;
  }

  // ---------------------------------------------------------------- the codec
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

  /** The short name under a byte of the field(s) it holds. */
  const BYTE_TAGS = { fin: "FIN", rsv1: "RSV", rsv2: "RSV", rsv3: "RSV", opcode: "op", mask: "M", len7: "len",
    extlen: "ext len", maskkey: "key", payload: "data" };

  /** Hex and binary of each byte, every bit coloured by the field it belongs to, and named. */
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
      // The fields in words too, not by colour alone.
      const names = owner ? [...new Set(owner.slice(i * 8, i * 8 + 8))].map((k) => BYTE_TAGS[k]) : [];
      const tags = [...new Set(names)].join(" ");
      list.append(el("li", { class: `byte${whole}`, title: `byte ${i}${tags ? `: ${tags}` : ""}` },
        el("span", { class: "idx", text: String(i) }),
        el("span", { class: "hex", text: hex2(bytes[i]) }),
        bits,
        tags ? el("span", { class: "fld", text: tags }) : null));
    }
    container.append(list);
    if (bytes.length > n) {
      container.append(el("p", { class: "more", text: `… ${(bytes.length - n).toLocaleString("en")} more bytes` }));
    }
    container.append(el("p", { class: "hexline" }, el("span", { class: "sr-label", text: "All bytes in hex: " }),
      el("code", { text: bytes.length > 256 ? `${hex(bytes.subarray(0, 256))} …` : hex(bytes) })));
  }

  /** The field table; `ctx.deflate`: the receiver agreed permessage-deflate. */
  function renderFieldTable(tbody, frame, ctx = {}) {
    tbody.replaceChildren();
    const c = { ...ctx, opcode: frame.opcode, rsv1: (frame.rsv & 4) !== 0 };
    for (const f of frame.fields) {
      const info = FIELDS[f.key];
      const bits = f.bitLen === 1 ? `${f.bitStart}` : `${f.bitStart}–${f.bitStart + f.bitLen - 1}`;
      let section = info.section;
      if (f.key === "payload") section = frame.isControl ? "5.5" : "5.6";
      tbody.append(el("tr", { "data-field": f.key, "data-value": String(fieldValueNumber(f) instanceof Uint8Array ? hex(f.value) : fieldValueNumber(f)) },
        el("th", { scope: "row" }, el("span", { class: `swatch f-${f.key}`, "aria-hidden": "true" }), info.short),
        el("td", { class: "mono", text: f.key === "payload" ? `from ${f.bitStart}` : bits }),
        el("td", { class: "mono value", text: fieldValueText(f) }),
        el("td", { text: info.meaning(fieldValueNumber(f), c) }),
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

  /**
   * One frame as it crossed the socket: its bytes and fields. `inflated` is given for a
   * frame of a compressed message (permessage-deflate, RSV1 on its first frame):
   * `{bytes}` what its payload inflated to, or `{problem}` why the page could not inflate it.
   */
  function wireView(bytes, frame, dir, truncated, inflated) {
    const message = inflated && inflated.bytes ? inflated.bytes : frame.unmasked;
    const box = el("div", { class: "wire-view", "data-dir": dir, "data-mask": frame.masked ? "1" : "0",
      "data-opcode": frame.opcode, "data-len": frame.payloadLen, "data-fin": frame.fin ? "1" : "0",
      "data-rsv1": frame.rsv & 4 ? "1" : "0", "data-payload": lossy.decode(message) });
    if (inflated && inflated.bytes) box.dataset.inflatedLen = inflated.bytes.length;
    const bytesBox = el("div", { class: "bytes compact" });
    renderBytes(bytesBox, bytes, frame, 24);
    const dl = el("dl", { class: "decoded" });
    // Each name and value in a <div> (allowed in <dl>), so that on a phone a pair never splits.
    const row = (k, v, key) => dl.append(el("div", { class: "pair", "data-key": key },
      el("dt", {}, el("span", { class: `swatch f-${key}`, "aria-hidden": "true" }), k),
      el("dd", { class: "mono", "data-key": key, text: v })));
    row("FIN", frame.fin ? "1" : "0", "fin");
    row("RSV1-3", frame.rsv.toString(2).padStart(3, "0"), "rsv1");
    row("opcode", `${opHex(frame.opcode)} ${opName(frame.opcode)}`, "opcode");
    row("MASK", frame.masked ? "1" : "0", "mask");
    row("Payload length", frame.payloadLenText, "len7");
    if (frame.masked) row("Masking-key", hex(frame.maskKey), "maskkey");
    if (inflated) {
      row(frame.masked ? "Payload, unmasked: compressed" : "Payload: compressed",
        `${hex(frame.unmasked.subarray(0, 48))}${frame.unmasked.length > 48 ? " …" : ""} (${frame.payloadLenText} bytes)`, "payload");
      row("Inflated (RFC 7692 §7.2.2)", inflated.bytes
        ? `${showPayload(inflated.bytes, narrow.matches ? 24 : 120, false)} (${inflated.bytes.length.toLocaleString("en")} bytes)` : inflated.problem, "payload");
    } else {
      row(frame.masked ? "Payload, unmasked" : "Payload", showPayload(frame.unmasked, narrow.matches ? 24 : 120), "payload");
    }
    if (frame.opcode === 8 && frame.complete) {
      let body;
      try {
        const c = Wisp.codec.parseClose(frame.unmasked);
        body = closeText(c.code, c.reason);
      } catch (e) {
        body = `not a valid close body: ${e.message}`;
      }
      row("Close body (§5.5.1)", body, "payload");
    }
    box.append(bytesBox, dl);
    if (truncated) box.append(el("p", { class: "note", text: `The server showed only the first 64 KiB of this frame (${frame.frameLen.toLocaleString("en")} bytes on the wire).` }));
    return box;
  }

  /**
   * A StepDecoder for what `role` receives. `ext`: null (no extension agreed) or
   * permessage-deflate as a connection agreed it, `{takeover, history}`: with `takeover`
   * the sender keeps its window, so the decoder first reads `history` (the earlier data
   * frames of that direction, whose messages fill the window later ones refer to).
   * Returns `{dec, problem}`; `problem` says why the history could not be read.
   */
  function extDecoder(role, ext) {
    const dec = new Wisp.codec.StepDecoder(role, ext ? ext.takeover : undefined);
    let problem = ext && ext.lost ? ext.lost : null;
    if (ext && ext.takeover && ext.history && !problem) {
      try {
        for (const b of ext.history) dec.push(b);
      } catch (e) {
        problem = `the earlier frames did not decode: ${e.message}`;
        dec.reset();
      }
    }
    return { dec, problem };
  }

  /**
   * What a receiver of one direction needs to decode its next frame, for a hand-off to
   * the composer or the stepper: null without permessage-deflate, else `{takeover,
   * history, lost}` (see extDecoder). `side` is the direction's state (live.js).
   */
  function extOf(side) {
    if (!side) return null;
    const history = side.takeover ? concat(side.history.map((h) => h)) : new Uint8Array(0);
    return { takeover: side.takeover, history, lost: side.takeover ? side.historyLost : null,
      messages: side.takeover ? side.messages : 0 };
  }

  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  }

  /** The frames of RFC 6455 §5.7, for the composer and the stepper. */
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

  Object.assign(Wisp, {
    RFC_EXAMPLES,
    codec: null, // the wasm API (encodeFrame, decodeFrame, StepDecoder, ...), set by main.js
    $, $$, el, RFC_URL, rfcHref, rfcLink, rfcText, rfcQuote, quoteReason, hex2, hex, bin8, encoder, lossy, strict,
    parseHex, showPayload, percent, extDecoder, extOf, concat, randomBytes, OPCODES, opName, opHex, closeName, closeText, FIELDS, WHY_MASK,
    fieldValueText, fieldValueNumber, bitAt, narrow, loadCodec, renderDiagram, renderBytes, renderFieldTable,
    renderMasking, wireView, setStatus,
  });
})();
