// Wisp demo page: the timeline of the live connection. Every report of the connection's
// watcher (/inspect?watch=ID) becomes a row, in order, with its time since the opening
// handshake: data frames and fragments, pings and pongs, the scenarios the page asked
// for, both close frames and the end of TCP. A frame row opens the frame view. Before the
// browser's frames, a row per TCP read of the server that brought their bytes (the
// reports' `reads` and `read_sizes`): one read carrying several frames, one frame split
// across reads.
"use strict";

(() => {
  const { $, el, hex, parseHex, showPayload, opName, opHex, closeText, rfcQuote, wireView } = Wisp;
  let W = null;

  const DIRS = { in: "browser → server", out: "server → browser" };
  let state = null; // what the rows so far imply: closes seen, the last ping, a message in progress

  function reset(text) {
    // conv: the conversation as the pcap export writes it (pcap.js).
    // reads: the rows of the server's reads so far, by number; lastRead: the last shown.
    state = { closes: 0, pings: [], fragments: { in: 0, out: 0 }, rows: 0, id: null, conv: null,
      reads: new Map(), lastRead: 0 };
    $("#l-timeline").replaceChildren();
    $("#l-timeline-title").textContent = text;
    $("#l-pcap").disabled = true;
  }

  /** "Save as pcap": the conversation so far as a pcapng file (Wisp.pcap). */
  function savePcap() {
    if (!state || !state.conv) return;
    const bytes = Wisp.pcap.build(state.conv);
    const a = el("a", { href: URL.createObjectURL(new Blob([bytes], { type: "application/vnd.tcpdump.pcap" })),
      download: `wisp-connection-${state.id ?? "x"}.pcapng` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    const frames = state.conv.records.filter((r) => r.frame).length;
    $("#l-announce").textContent = `Saved ${a.download}: the handshake and ${frames} frames, ${bytes.length.toLocaleString("en")} bytes.`;
  }

  function time(ms) {
    return typeof ms === "number" ? `+${ms < 1000 ? ms.toFixed(1) : ms.toFixed(0)} ms` : "";
  }

  /** One row: a button that opens `detail()` below it (built when first opened). */
  function row(kind, attrs, r, what, detail) {
    state.rows += 1;
    const id = `tl-d-${state.rows}`;
    const body = el("div", { class: "tl-detail", id, hidden: true });
    const head = el("button", { type: "button", class: "tl-head", "aria-expanded": "false", "aria-controls": id },
      el("span", { class: "tl-time mono", text: time(r.ms) }),
      el("span", { class: "tl-dir", text: attrs["data-dir"] ? DIRS[attrs["data-dir"]] : "" }),
      el("span", { class: "tl-what" }, what));
    head.addEventListener("click", () => {
      const open = head.getAttribute("aria-expanded") !== "true";
      if (open && !body.firstChild) body.append(...detail());
      head.setAttribute("aria-expanded", String(open));
      body.hidden = !open;
    });
    const li = el("li", { class: `tl-row tl-${kind}`, "data-kind": kind, "data-seq": r.seq, ...attrs }, head, body);
    $("#l-timeline").append(li);
    return li;
  }

  /** What a frame is in the conversation, in words. */
  function describe(r, frame, inflated) {
    const op = frame.opcode;
    const data = inflated && inflated.bytes ? inflated.bytes : frame.unmasked;
    if (op === 8) {
      state.closes += 1;
      const body = r.close ? closeText(r.close.code, r.close.reason) : "(unreadable body)";
      return `Close, ${body}: ${state.closes === 1 ? "starts the closing handshake" : "answers the close (§5.5.1)"}`;
    }
    if (op === 9) {
      state.pings.push(hex(data));
      const keepalive = r.dir === "out" && Wisp.lossy.decode(data) === "wisp keepalive";
      return `Ping ${showPayload(data, 40)}${keepalive ? ": the server's keepalive" : ""}`
        + (state.fragments[r.dir] ? ", a control frame between fragments (§5.4)" : "");
    }
    if (op === 10) {
      const i = state.pings.indexOf(hex(data));
      if (i >= 0) state.pings.splice(i, 1);
      const who = r.dir === "in" ? "the browser's automatic answer" : "the server's answer";
      return `Pong ${showPayload(data, 40)}: ${i >= 0 ? `${who}, with the ping's data (§5.5.2)` : "unsolicited, a heartbeat that gets no answer (§5.5.3)"}`;
    }
    const preview = (inflated && !inflated.bytes ? "(compressed, not inflated)" : showPayload(data, 60, !(inflated && !inflated.partial)))
      + (inflated ? `, compressed: ${frame.payloadLenText} bytes on the wire${inflated.bytes && !inflated.partial ? `, ${data.length} inflated` : ""}` : "")
      + (r.truncated ? " (first 64 KiB shown)" : "");
    const f = state.fragments;
    if (op === 0) {
      f[r.dir] += 1;
      const n = f[r.dir];
      if (frame.fin) f[r.dir] = 0;
      return frame.fin ? `Continuation, FIN = 1: fragment ${n}, the last: the message is complete: ${preview}`
        : `Continuation, FIN = 0: fragment ${n}: ${preview}`;
    }
    if (!frame.fin) {
      f[r.dir] = 1;
      return `${opName(op)}, FIN = 0: fragment 1 of a message: ${preview}`;
    }
    if (op === 1 && r.dir === "in") {
      try {
        const c = JSON.parse(Wisp.lossy.decode(data));
        if (c && typeof c.command === "string") return `Text message: the page's command “${c.command}” (not echoed: the server runs it)`;
      } catch (_) { /* an ordinary message */ }
    }
    return `${opName(op)} message, ${frame.payloadLenText} bytes: ${preview}`;
  }

  const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

  /** A row for the server's read #first (to #last when their sizes were not reported). */
  function readRow(first, last, size, r) {
    const x = { first, last, size, whole: 0, parts: 0 };
    const what = el("span", {});
    x.update = () => {
      const name = first === last ? `TCP read #${first}` : `TCP reads #${first}-#${last}`;
      const carried = [x.whole ? `${plural(x.whole, "whole frame")}` : "", x.parts ? `part of ${plural(x.parts, "frame")}` : ""]
        .filter(Boolean).join(" and ");
      what.replaceChildren(el("strong", { text: `${name}: ` }),
        `${size === null ? "sizes not reported" : plural(size, "byte")}${carried ? `, carrying ${carried}` : ""}`);
      li.dataset.whole = x.whole;
      li.dataset.parts = x.parts;
    };
    const attrs = { "data-dir": "in", "data-read": first };
    if (size !== null) attrs["data-size"] = size;
    const li = row("read", attrs, { seq: r.seq }, what, () => [el("p", {},
      `${first === last ? "One read" : "Reads"} of the server on this connection's socket (a recv() call${first === last ? "" : " each"}; `
      + "reads are counted from the first byte after the opening handshake) brought these bytes from the browser, "
      + "whole frames and pieces of frames alike. TCP delivers a stream of bytes and keeps no "
      + "frame boundaries: one read may bring several frames, and one frame may arrive in several reads. The decoder "
      + "takes each frame from the bytes however they arrive (§5.2); a frame is complete once its last byte is read.")]);
    x.update();
    for (let i = first; i <= last; i++) state.reads.set(i, x);
  }

  /**
   * The rows of the server's reads that brought a browser frame (report `r`) not shown yet,
   * before the frame's own row; each read's row counts the frames it carried. Returns the
   * words for the frame's row, or null when the report has no reads.
   */
  function readRows(r) {
    if (!Array.isArray(r.reads) || r.reads.length !== 2) return null;
    const [first, last] = r.reads;
    const sizes = Array.isArray(r.read_sizes) ? r.read_sizes : [];
    for (let i = Math.max(first, state.lastRead + 1); i <= last; i++) {
      if (typeof sizes[i - first] !== "number") {
        // Only the first 16 sizes of a frame's reads are reported: one row for the rest.
        readRow(i, last, null, r);
        break;
      }
      readRow(i, i, sizes[i - first], r);
    }
    state.lastRead = Math.max(state.lastRead, last);
    const seen = new Set();
    for (let i = first; i <= last; i++) {
      const x = state.reads.get(i);
      if (!x || seen.has(x)) continue;
      seen.add(x);
      if (first === last) x.whole += 1;
      else x.parts += 1;
      x.update();
    }
    if (first === last) return ` · from TCP read #${first}`;
    const shown = sizes.slice(0, last - first + 1);
    return ` · split across ${last - first + 1} TCP reads, #${first}-#${last}`
      + (shown.length === last - first + 1 ? ` (reads of ${shown.join(" + ")} bytes)` : "");
  }

  function frameRow(r) {
    let bytes, frame;
    try {
      bytes = parseHex(r.hex);
      frame = W.decodeFrame(bytes);
    } catch (e) {
      note(`A reported frame does not decode: ${e.message}`, "bad");
      return;
    }
    if (!frame) return;
    const attrs = { "data-dir": r.dir, "data-opcode": frame.opcode, "data-fin": frame.fin ? "1" : "0",
      "data-rsv1": frame.rsv & 4 ? "1" : "0", "data-len": frame.payloadLen };
    // What a receiver needs to decode this frame: the connection's extension, and with
    // context takeover the frames before it. Taken before this frame joins the history.
    const side = state.deflate ? state.deflate[r.dir] : null;
    const ext = state.deflate ? Wisp.extOf(side) : null;
    const inflated = state.deflate && !frame.isControl ? Wisp.live.inflateFrame(side, frame, r.truncated) : null;
    if (side) Wisp.live.remember(side, bytes, frame, r.truncated);
    if (state.conv) {
      // A frame the report cut at 64 KiB is padded with zeros to its length on the wire.
      const whole = r.truncated && r.wire_len > bytes.length ? new Uint8Array(r.wire_len) : bytes;
      if (whole !== bytes) whole.set(bytes);
      state.conv.records.push({ ms: r.ms, dir: r.dir, bytes: whole, frame: true,
        comment: whole !== bytes ? `the server reported the first ${bytes.length} bytes of this frame; the rest are zeros here` : null });
    }
    if (r.close) {
      attrs["data-close-code"] = r.close.code;
      attrs["data-close-reason"] = r.close.reason;
    }
    const reads = r.dir === "in" ? readRows(r) : null;
    if (reads) attrs["data-reads"] = `${r.reads[0]}-${r.reads[1]}`;
    const what = [el("strong", { text: `${opHex(frame.opcode)} ` }), describe(r, frame, inflated),
      reads ? el("span", { class: "tl-reads", text: reads }) : null];
    const role = r.dir === "in" ? "server" : "client";
    row("frame", attrs, r, what, () => [
      wireView(bytes, frame, r.dir, r.truncated, inflated),
      el("p", { class: "buttons" },
        el("button", { type: "button", class: "secondary", onclick: () => Wisp.composer.show(bytes, ext) }, "Open in the composer"),
        " ",
        el("button", { type: "button", class: "secondary", onclick: () => Wisp.stepper.load(hex(bytes), role, "#s-step", ext) },
          "Step through it"),
        ext ? el("span", { class: "note", text: " (with permessage-deflate agreed, as on this connection)" }) : null),
    ]);
  }

  function add(r) {
    if (!state) reset("");
    switch (r.type) {
      case "watching":
        state.id = r.id;
        $("#l-timeline-title").textContent = `Connection #${r.id}: every frame in both directions, as the server saw them`
          + " (times from the opening handshake), reported over the watcher. Click a frame to see it.";
        return;
      case "handshake":
        state.deflate = Wisp.live.deflateFor(r).state;
        if (typeof r.request === "string") {
          const url = Wisp.live.url() || "";
          state.conv = { start: Date.now() - (r.ms || 0), url, ended: null, records: [
            { ms: r.ms, dir: "in", bytes: Wisp.encoder.encode(r.request), comment: "the opening handshake's request" },
            { ms: r.ms, dir: "out", bytes: Wisp.encoder.encode(r.response || ""), comment: "the server's 101 response" },
          ] };
          $("#l-pcap").disabled = false;
        }
        row("handshake", {}, r, "Opening handshake: GET with Upgrade: websocket, answered 101 Switching Protocols (§4)",
          () => [el("pre", { text: r.request.trimEnd() }), el("pre", { text: (r.response || "").trimEnd() })]);
        return;
      case "frame":
        frameRow(r);
        return;
      case "scenario":
        row("scenario", { "data-name": r.name }, r, [el("strong", { text: "Scenario: " }), r.does],
          () => r.rfc.map((s) => el("blockquote", {}, s.rfc === 7692
            ? Wisp.quoteReason(`RFC 7692 §${s.section}: ${s.text}`) : rfcQuote(s.section, s.text)))).querySelector(".tl-head").click();
        return;
      case "error":
        row("error", {}, r, `The server refused a command: ${r.error}`, () => []);
        return;
      case "end": {
        const first = r.first === "client" ? "the browser" : r.first === "server" ? "the server" : "nobody";
        const li = row("end", { "data-first": r.first || "" }, r,
          [el("strong", { text: "TCP connection closed: " }), `${r.tcp} (${r.how}). First close frame from ${first}.`],
          () => [el("blockquote", {}, rfcQuote("5.5.1", "After both sending and receiving a Close message, an endpoint "
            + "considers the WebSocket connection closed and MUST close the underlying TCP connection."))]);
        li.dataset.tcp = r.tcp;
        if (state.conv) state.conv.ended = r.first === "client" ? "client" : "server";
        return;
      }
      case "dropped":
        note(`The server dropped this watcher: ${r.reason}.`, "bad");
        return;
      default:
    }
  }

  function note(text, cls = "note") {
    if (!state) reset("");
    $("#l-timeline").append(el("li", { class: `tl-row tl-note ${cls}`, "data-kind": "note", text }));
  }

  function init() {
    W = Wisp.codec;
    reset("Connect to see the timeline.");
    $("#l-pcap").addEventListener("click", savePcap);
  }

  Wisp.timeline = { init, reset, add, note };
})();
