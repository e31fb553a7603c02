// Wisp demo page, panel 3: the stepper. Feeds bytes to the codec's incremental decoder
// (StepDecoder: FrameDecoder + Reassembler, as a Connection joins them) one at a time,
// and shows what it knows after each: the header so far, the payload, and how fragments
// join into one message with control frames between them (§5.4).
"use strict";

(() => {
  const { $, el, hex, hex2, showPayload, opName, opHex, closeName, RFC_EXAMPLES } = Wisp;
  let W = null;

  const step = {
    bytes: new Uint8Array(0), pos: 0, dec: null, error: null, errorAt: -1, last: null,
    frameData: [], log: [], shown: 0, frames: 0, frameEnd: -1,
    current: null, // the message being reassembled: {opcode, fragments: [{opcode, fin, data}]}
    messages: [], controls: [], done: [], // done: both, in the order they completed
  };

  function presets() {
    const list = RFC_EXAMPLES.filter((p) => p.wire).map((p) => ({ label: `§5.7 ${p.name}`, hex: p.wire, role: p.role }));
    list.splice(4, 0, { label: "§5.7 Both fragments, \"Hel\" + \"lo\"", hex: "01 03 48 65 6c 80 02 6c 6f", role: "client" });
    list.splice(5, 0, { label: "§5.4 \"Hel\" + \"lo\" with a ping between", hex: "01 03 48 65 6c 89 00 80 02 6c 6f", role: "client" });
    list.push({ label: "§5.7 256 bytes binary (header + 256 zero bytes)", hex: `82 7e 01 00 ${Array(256).fill("00").join(" ")}`, role: "client" });
    return list.concat(Wisp.live.liveFrames.map((f) => ({ ...f, deflate: !!f.ext })));
  }

  function refreshPresets() {
    const sel = $("#s-preset");
    const keep = sel.value;
    sel.replaceChildren(el("option", { value: "", text: "(typed bytes)" }));
    presets().forEach((p, i) => sel.append(el("option", { value: String(i), text: p.label })));
    sel.value = keep;
  }

  /**
   * Reads the hex field while the user types: a last digit without its pair is not an
   * error yet, only a byte in progress. Returns {bytes, hint, error}.
   */
  function readHex(text) {
    const clean = text.replace(/0x/gi, "").replace(/[\s,:;]+/g, "");
    const bad = /[^0-9a-f]/i.exec(clean);
    if (bad) return { bytes: new Uint8Array(0), error: `“${bad[0]}” is not a hex digit (0-9, a-f)` };
    const whole = clean.length - (clean.length % 2);
    const bytes = new Uint8Array(whole / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.substr(i * 2, 2), 16);
    const hint = clean.length % 2 ? `One more hex digit completes byte ${bytes.length}; it is not fed until then.` : "";
    return { bytes, hint, error: null };
  }

  /**
   * permessage-deflate as the bytes' connection agreed it (a hand-off: `{takeover,
   * history}`, see Wisp.extDecoder), or null: a ticked box alone means a fresh window for
   * every message, as a sender with *_no_context_takeover compresses.
   */
  let handoff = null;

  function reset() {
    if (step.dec) step.dec.free();
    if (step.inflater) step.inflater.free();
    const ext = $("#s-deflate").checked ? handoff || { takeover: false, history: null } : null;
    step.dec = new W.StepDecoder($("#s-role").value, ext ? ext.takeover : undefined);
    // The page's own inflater follows the decoder's, frame by frame, to show each inflate step.
    step.inflater = ext ? new W.Inflater(ext.takeover) : null;
    Object.assign(step, {
      pos: 0, error: null, errorAt: -1, last: null, frameData: [], log: [], shown: 0, frames: 0, frameEnd: -1,
      current: null, messages: [], controls: [], done: [], compressing: false, inflatedSoFar: null,
      primed: ext && ext.takeover && ext.history && ext.history.length ? prime(ext) : "",
    });
    const read = readHex($("#s-hex").value);
    step.bytes = read.bytes;
    const msg = $("#s-hex-msg");
    msg.textContent = read.error ? `Cannot read the bytes: ${read.error}.` : read.hint;
    msg.className = read.error ? "error" : "note";
    if (read.error) $("#s-hex").setAttribute("aria-invalid", "true");
    else $("#s-hex").removeAttribute("aria-invalid");
    $("#s-log").replaceChildren();
    render();
  }

  /**
   * A sender that keeps its window: the decoder and the inflater first read the earlier
   * frames of the connection, unseen, so that back-references into them resolve. Returns
   * what to say about it.
   */
  function prime(ext) {
    if (ext.lost) return `The earlier messages cannot be replayed (${ext.lost}); the decoder starts with an empty window.`;
    let data = [];
    try {
      for (const b of ext.history) {
        const r = step.dec.push(b);
        if (r.event === "header") data = [];
        data.push(...r.data);
        if (r.last) inflateStep(r.header, Uint8Array.from(data));
      }
    } catch (e) {
      step.dec.free();
      step.dec = new W.StepDecoder($("#s-role").value, true);
      step.inflater.free();
      step.inflater = new W.Inflater(true);
      return `The earlier messages did not decode (${e.message}); the decoder starts with an empty window.`;
    }
    step.compressing = false;
    return `The sender keeps its window across messages (context takeover), so the decoder first read the connection's `
      + `${ext.messages} earlier message${ext.messages === 1 ? "" : "s"} of this direction (${ext.history.length.toLocaleString("en")} bytes, `
      + "not shown): this frame's compressed data may refer back to them.";
  }

  /**
   * A data frame ended: with permessage-deflate, what its payload inflates to (the
   * page's Inflater, fed like the codec's own), or null for an uncompressed message.
   */
  function inflateStep(h, data) {
    if (!step.inflater || h.opcode >= 8) return null;
    if (h.opcode !== 0) step.compressing = (h.rsv & 4) !== 0;
    if (!step.compressing) return null;
    return { compressed: data.length, out: step.inflater.inflate(data, h.fin), fin: h.fin };
  }

  /** Whether the frame with header `h` belongs to a compressed message (RSV1 on its first frame). */
  const messageCompressed = (h) => (h.opcode === 0 ? step.compressing : h.opcode < 8 && (h.rsv & 4) !== 0);

  /** "100 (RSV1: compressed)": the RSV bits, and what they mean here. */
  function rsvText(rsv, opcode) {
    const bits = rsv.toString(2).padStart(3, "0");
    if (!(rsv & 4)) return bits;
    if (!$("#s-deflate").checked) return `${bits} (RSV1 set, but no extension is agreed)`;
    return opcode === 0 || opcode >= 8 ? `${bits} (RSV1 on a ${opcode ? "control" : "continuation"} frame: not allowed)`
      : `${bits} (RSV1: compressed, permessage-deflate)`;
  }

  /** Loads bytes from another panel (a live frame, a composed sequence) and shows them here, with their extension. */
  function load(hexText, role, focus, ext) {
    $("#s-preset").value = "";
    $("#s-hex").value = hexText;
    $("#s-role").value = role;
    handoff = ext && ext.takeover !== undefined ? ext : null;
    $("#s-deflate").checked = !!ext;
    reset();
    $("#stepper").scrollIntoView();
    $(focus || "#s-step").focus();
  }

  /** Whether the header used the shortest length form for its payload length (§5.2). */
  const isMinimal = (h) => {
    const ext = h.payloadLen <= 125 ? 0 : h.payloadLen <= 0xffff ? 2 : 8;
    return h.headerLen === 2 + ext + (h.masked ? 4 : 0);
  };

  /** The frame that just ended joins the message being reassembled (or is a control frame). */
  function frameEnded(h, data, message, inflated) {
    step.frames += 1;
    step.frameEnd = step.pos - 1;
    if (h.opcode >= 8) {
      step.controls.push({ opcode: h.opcode, data, between: !!step.current });
      step.done.push({ control: step.controls[step.controls.length - 1] });
    } else {
      if (h.opcode !== 0) step.current = { opcode: h.opcode, fragments: [] };
      if (step.current) step.current.fragments.push({ opcode: h.opcode, fin: h.fin, data, inflated });
    }
    if (message && message.type !== "ping" && message.type !== "pong" && message.type !== "close") {
      const frags = step.current ? step.current.fragments : [];
      const compressed = frags.length && frags[0].inflated
        ? frags.reduce((n, f) => n + f.data.length, 0) : 0;
      step.messages.push({ message, fragments: step.current ? step.current.fragments.length : 1, compressed });
      step.done.push({ message: step.messages[step.messages.length - 1], n: step.messages.length });
      step.current = null;
    }
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
      step.log.push({ cls: "bad", text: `byte ${i} (0x${hex2(b)}): ${e.kind || e.name}: ${e.message} → the connection fails with close ${e.closeCode} (${closeName(e.closeCode)})` });
      return null;
    }
    step.last = r;
    if (r.event === "header") {
      step.frameData = [];
      if (r.header.opcode === 1 || r.header.opcode === 2) step.inflatedSoFar = null; // a new message
    }
    step.frameData.push(...r.data);
    let text;
    if (r.event === "need-more") {
      text = `byte ${i} (0x${hex2(b)}): kept; the header is not complete (${r.buffered.length} byte${r.buffered.length > 1 ? "s" : ""} held)`;
    } else if (r.event === "header") {
      const h = r.header;
      text = `byte ${i} (0x${hex2(b)}): header complete (${h.headerLen} bytes): FIN=${h.fin ? 1 : 0}${h.rsv ? ` RSV1-3=${rsvText(h.rsv, h.opcode)}` : ""} `
        + `${opName(h.opcode)} MASK=${h.masked ? 1 : 0} length ${h.payloadLenText}`;
      if (!isMinimal(h)) {
        step.log.push({ cls: r.event, text });
        text = `note: length ${h.payloadLenText} in a longer form than needed. “The minimal number of bytes MUST be used to encode the length” `
          + "(§5.2) is the sender's rule; a receiver is not told to refuse it, and the codec accepts it.";
      }
    } else {
      const d = r.data[0];
      const ch = d >= 0x20 && d < 0x7f ? ` '${String.fromCharCode(d)}'` : "";
      const k = (r.received - 1) % 4;
      const xor = r.header.masked ? `: 0x${hex2(b)} XOR key[${k}] 0x${hex2(r.header.maskKey[k])} = 0x${hex2(d)}${ch}` : ch;
      const what = step.inflater && messageCompressed(r.header) ? " (compressed)" : "";
      text = `byte ${i}: payload byte ${r.received} of ${r.header.payloadLenText}${what}${xor}`;
    }
    if (r.last) text += " — end of frame";
    step.log.push({ cls: r.event, text });
    if (r.last) {
      const data = Uint8Array.from(step.frameData);
      let inflated = null;
      try {
        inflated = inflateStep(r.header, data);
      } catch (e) {
        step.log.push({ cls: "bad", text: `inflate: the page's inflater refused this frame: ${e.message}` });
      }
      if (inflated) {
        const tail = inflated.fin ? " + 00 00 ff ff appended (the message's last frame: the tail the sender removed, RFC 7692 §7.2.2)" : "";
        step.inflatedSoFar = step.inflatedSoFar ? Wisp.concat([step.inflatedSoFar, inflated.out]) : inflated.out;
        step.log.push({ cls: "inflate", text: `inflate: the frame's ${inflated.compressed} compressed byte${inflated.compressed === 1 ? "" : "s"}${tail} `
          + `→ ${inflated.out.length} byte${inflated.out.length === 1 ? "" : "s"}: ${showPayload(inflated.out, 60)}`
          + (inflated.fin ? "" : "; the DEFLATE stream goes on in the next fragment") });
      }
      frameEnded(r.header, data, r.message, inflated);
    }
    if (r.message) {
      const m = r.message;
      const what = m.type === "text" ? JSON.stringify(m.text)
        : m.type === "close" ? (m.code === null ? "no status code" : `code ${m.code}${m.reason ? ` “${m.reason}”` : ""}`)
          : showPayload(m.data);
      const control = m.type === "ping" || m.type === "pong" || m.type === "close";
      const joined = !control && step.messages.length && step.messages[step.messages.length - 1].fragments > 1
        ? ` (joined from ${step.messages[step.messages.length - 1].fragments} fragments)` : "";
      step.log.push({ cls: "ok", text: `→ ${control ? "control frame" : "message"} complete: ${m.type} ${what}${joined}` });
    }
    return r;
  }

  const dl = (box, k, v, attrs = {}) => box.append(el("dt", { text: k }), el("dd", { class: "mono", ...attrs, text: v }));

  function renderBytes() {
    const box = $("#s-bytes");
    box.replaceChildren();
    const list = el("ol", { class: "bytelist stream" });
    const max = Math.min(step.bytes.length, 600);
    for (let i = 0; i < max; i++) {
      // After an error nothing is "next": the decoder reads no further.
      const cls = i === step.errorAt ? "err" : i < step.pos ? "done" : i === step.pos && !step.error ? "next" : "";
      // A mark besides the colour: ✓ read, ▸ next, ✗ the error.
      const mark = { err: " ✗", done: " ✓", next: " ▸" }[cls] || "";
      const said = { err: ", the error", done: ", read", next: ", next" }[cls] || "";
      list.append(el("li", { class: `byte ${cls}`, "aria-current": cls === "next" ? "step" : null, title: `byte ${i}${said}` },
        el("span", { class: "idx", text: `${i}${mark}` }), el("span", { class: "hex", text: hex2(step.bytes[i]) })));
    }
    box.append(list);
    if (step.bytes.length > max) box.append(el("p", { class: "more", text: `… ${step.bytes.length - max} more bytes` }));
  }

  function stateName(s) {
    if (step.error) return `Failed at byte ${step.errorAt}: the decoder reads no further`;
    if (s.state === "payload") return "Payload: reading payload bytes";
    if (s.buffered.length) return `Header: reading a header (${s.buffered.length} byte${s.buffered.length > 1 ? "s" : ""} held)`;
    if (step.pos === 0) return "Header: waiting for the first byte";
    return `Between frames: frame ${step.frames} ended at byte ${step.frameEnd}`;
  }

  function renderState(s) {
    const st = $("#s-state");
    st.replaceChildren();
    dl(st, "bytes fed", `${step.pos} of ${step.bytes.length}`, { id: "s-offset" });
    dl(st, "state", stateName(s), { id: "s-statename" });
    dl(st, "header bytes held", s.buffered.length ? hex(s.buffered) : "none");
    if (s.header && !step.error) {
      const between = s.state !== "payload";
      dl(st, between ? "last frame's payload" : "payload received", `${s.received} of ${s.header.payloadLenText}`, { id: "s-received" });
    }
    if (step.error) dl(st, "error", `close ${step.error.closeCode}: ${step.error.message}`, { id: "s-error", class: "mono bad" });
  }

  function renderKnown(s) {
    const kn = $("#s-known");
    kn.replaceChildren();
    const h = s.header;
    if (step.error) {
      kn.append(el("p", { class: "bad", id: "s-failed" },
        `The frame is broken at byte ${step.errorAt}: ${step.error.message}. A receiver fails the connection here; `
        + "the bytes after it are never read."));
    } else if (h && s.state === "payload") {
      showHeader(kn, h);
    } else if (s.buffered.length) {
      // The header is not whole: what its first bytes already say (§5.2 figure).
      const b = s.buffered;
      dl(kn, "FIN", String(b[0] >> 7));
      dl(kn, "RSV1-3", rsvText((b[0] >> 4) & 7, b[0] & 15));
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
    } else if (step.pos) {
      if (h) showHeader(kn, h);
      kn.append(el("p", { class: "note", text: step.pos < step.bytes.length
        ? "Between frames: the next byte starts a new header." : "All bytes are fed; the last frame is complete." }));
    } else {
      kn.append(el("p", { class: "note", text: "Nothing yet: press Step." }));
    }
  }

  function showHeader(kn, h) {
    dl(kn, "FIN", h.fin ? "1 (final fragment)" : "0 (more fragments follow)");
    dl(kn, "RSV1-3", rsvText(h.rsv, h.opcode), { id: "s-rsv" });
    dl(kn, "opcode", `${opHex(h.opcode)} ${opName(h.opcode)}`, { id: "s-opcode" });
    dl(kn, "MASK", h.masked ? `1, key ${hex(h.maskKey)}` : "0");
    dl(kn, "payload length", h.payloadLenText, { id: "s-len" });
    const compressed = step.inflater && messageCompressed(h);
    const label = `payload so far${h.masked ? ", unmasked" : ""}${compressed ? " (compressed)" : ""}`;
    const data = Uint8Array.from(step.frameData);
    dl(kn, label, compressed ? `${hex(data.subarray(0, 48))}${data.length > 48 ? " …" : ""}` : showPayload(data, 80), { id: "s-payload" });
    if (compressed) {
      dl(kn, "inflated so far", step.inflatedSoFar ? showPayload(step.inflatedSoFar, 80)
        : "nothing yet: this frame is inflated when it ends, with 00 00 ff ff appended after the message's last frame",
      { id: "s-inflated" });
    }
  }

  function renderReassembly() {
    const box = $("#s-reassembly");
    box.replaceChildren();
    box.dataset.messages = String(step.messages.length);
    box.dataset.controls = String(step.controls.length);
    const list = el("ol", { class: "reassembly" });
    for (const d of step.done) {
      if (d.message) {
        const { message, fragments } = d.message;
        const what = message.type === "text" ? JSON.stringify(message.text) : showPayload(message.data, 60);
        const { compressed } = d.message;
        list.append(el("li", { class: "ok", "data-type": message.type, "data-fragments": fragments, "data-compressed": compressed },
          `Message ${d.n}: ${message.type} ${what}`, fragments > 1 ? `, the concatenation of ${fragments} fragments` : ", one frame",
          compressed ? `, inflated from ${compressed} compressed bytes${fragments > 1 ? " split across them" : ""} (RFC 7692 §7.2.2)` : ""));
      } else {
        const c = d.control;
        list.append(el("li", { class: "control", "data-opcode": c.opcode },
          `${opName(c.opcode)} ${showPayload(c.data, 30)}: a control frame, delivered at once`,
          c.between ? ", between fragments of a message (control frames MAY be injected there, §5.4)" : ""));
      }
    }
    if (step.current) {
      const parts = step.current.fragments.map((f, i) => `fragment ${i + 1} (${opName(f.opcode)}, FIN = ${f.fin ? 1 : 0}) ${showPayload(f.data, 30)}`);
      list.append(el("li", { class: "note", id: "s-in-progress" },
        `In progress: ${parts.join(", ")}; waiting for the fragment with FIN = 1.`));
    }
    if (!list.children.length) box.append(el("p", { class: "note", text: "No frame complete yet." }));
    else box.append(list);
    if (step.primed) box.append(el("p", { class: "note", id: "s-primed", text: step.primed }));
  }

  function renderLog() {
    const log = $("#s-log");
    if (step.log.length === 0) {
      log.replaceChildren(el("li", { class: "note empty", text: "No byte fed yet." }));
      step.shown = 0;
      return;
    }
    if (step.shown === 0) log.replaceChildren();
    // Only new entries are added; the log itself is not a live region (#s-announce is).
    for (const entry of step.log.slice(step.shown)) log.append(el("li", { class: entry.cls, text: entry.text }));
    step.shown = step.log.length;
    while (log.children.length > 400) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
    $("#s-announce").textContent = step.log[step.log.length - 1].text;
  }

  function render() {
    const view = $("#s-view");
    view.dataset.pos = String(step.pos);
    view.dataset.state = step.error ? "error" : step.last ? step.last.state : "header";
    view.dataset.end = step.pos >= step.bytes.length ? "1" : "0";
    const s = step.dec.state();
    renderBytes();
    renderState(s);
    renderKnown(s);
    renderReassembly();
    renderLog();
    const focused = document.activeElement;
    const done = !!step.error || step.pos >= step.bytes.length;
    for (const id of ["#s-step", "#s-frame", "#s-all"]) $(id).disabled = done;
    // A disabled button loses focus to <body>: keep it in the stepper.
    if (done && focused && focused.disabled) $("#s-reset").focus();
  }

  function init() {
    W = Wisp.codec;
    refreshPresets();
    const sel = $("#s-preset");
    sel.addEventListener("change", () => {
      const p = presets()[Number(sel.value)];
      if (sel.value !== "" && p) {
        $("#s-hex").value = p.hex;
        $("#s-role").value = p.role;
        $("#s-deflate").checked = !!p.deflate;
        handoff = p.ext || null;
      }
      reset();
    });
    $("#s-deflate").addEventListener("change", () => { handoff = null; reset(); });
    $("#s-hex").addEventListener("input", () => { sel.value = ""; handoff = null; reset(); });
    $("#s-role").addEventListener("change", reset);
    $("#s-step").addEventListener("click", () => { stepOnce(); render(); });
    $("#s-frame").addEventListener("click", () => {
      for (let r = stepOnce(); r && !r.last; r = stepOnce());
      render();
    });
    $("#s-all").addEventListener("click", () => {
      while (stepOnce());
      render();
    });
    $("#s-reset").addEventListener("click", reset);
    $("#step-form").addEventListener("submit", (e) => e.preventDefault());
    sel.value = "1"; // the masked "Hello"
    const p = presets()[1];
    $("#s-hex").value = p.hex;
    $("#s-role").value = p.role;
    reset();
  }

  Wisp.stepper = { init, load, refreshPresets };
})();
