// Wisp demo page, panel 1: the composer. Builds one frame from its header bits and a
// payload, draws it, and splits a message into a sequence of fragments (§5.4).
"use strict";

(() => {
  const {
    $, el, rfcLink, rfcQuote, quoteReason, hex, parseHex, randomBytes, encoder, showPayload, opName, opHex,
    closeName, RFC_EXAMPLES, narrow, renderDiagram, renderBytes, renderFieldTable, renderMasking, extDecoder, percent,
  } = Wisp;
  let W = null;

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
    let payload, key, wire, deflated = null, sent;
    try {
      payload = composerPayload();
      key = composerKey();
      sent = payload;
      if ($("#c-deflate").checked) {
        // A fresh window, as a server with server_no_context_takeover compresses each message.
        deflated = W.deflateMessage(payload, 15);
        sent = deflated.compressed;
        $("#c-rsv1").checked = true;
        $("#c-ext").checked = true; // compressing means both ends agreed it
      }
      const rsv = ($("#c-rsv1").checked ? 4 : 0) | ($("#c-rsv2").checked ? 2 : 0) | ($("#c-rsv3").checked ? 1 : 0);
      wire = W.encodeFrame(Number($("#c-opcode").value), $("#c-fin").checked, rsv, sent, key ?? undefined);
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
    renderFieldTable($("#c-fields tbody"), frame, { deflate: $("#c-ext").checked });
    renderMasking($("#c-masking"), sent, key, frame.payload);
    renderDeflate(deflated, payload);
    renderExtNote();
    renderVerdict(wire, frame);
    composed = { wire, frame };
    renderSequence(payload, sent, key, !!deflated);
    $("#c-whole-note").hidden = $("#c-seq").hidden || !!$("#c-seq-error").textContent;
  }
  let composed = null;
  /** permessage-deflate as the connection a frame came from agreed it (show()), or null. */
  let handoff = null;

  /** What the receiver agreed, for the verdict: null, or permessage-deflate (extDecoder). */
  function currentExt() {
    if (!$("#c-ext").checked) return null;
    return handoff || { takeover: false, history: new Uint8Array(0), lost: null, messages: 0 };
  }

  function renderExtNote() {
    const box = $("#c-ext-note");
    const ext = $("#c-ext").checked ? handoff : null;
    box.hidden = !ext;
    if (!ext) return;
    box.textContent = ext.takeover
      ? `From the live connection, where permessage-deflate was agreed and the sender keeps its window: the verdict's `
        + `decoder first reads the ${ext.messages} earlier message${ext.messages === 1 ? "" : "s"} of that direction, `
        + "since a compressed message may refer back to them."
      : "From the live connection, where permessage-deflate was agreed (each message with a fresh window): the payload "
        + "below is the compressed one, as it crossed the socket.";
  }

  /** The compressed payload: what deflate made of the message, and the tail it dropped. */
  function renderDeflate(d, payload) {
    const box = $("#c-deflate-view");
    box.hidden = !d;
    if (!d) return;
    const link = (section) => el("a", { class: "rfc", href: `https://www.rfc-editor.org/rfc/rfc7692#section-${section}` }, `RFC 7692 §${section}`);
    box.replaceChildren(
      el("p", {}, `Deflated with a sync flush (a fresh 15-bit window): ${payload.length.toLocaleString("en")} bytes become `,
        el("strong", { id: "c-deflate-len", text: `${d.compressedLen.toLocaleString("en")} bytes` }),
        payload.length ? ` (${percent(d.compressedLen, payload.length)})` : "", ". The payload: ",
        el("code", { id: "c-deflate-hex", text: `${hex(d.compressed.subarray(0, 48))}${d.compressed.length > 48 ? " …" : ""}` }), "."),
      el("p", {}, "The flush ended with ", el("code", { id: "c-deflate-tail", text: hex(d.tail) }),
        ": the sender removes those 4 bytes and the receiver appends them again before inflating (", link("7.2.1"), ", ", link("7.2.2"), ")."),
      el("p", {}, "RSV1 = 1 marks the message as compressed: the “Per-Message Compressed” bit, set on a message's first frame only, "
        + "and never on a control frame (", link("6"), "). A receiver that did not agree to permessage-deflate fails the connection with 1002."));
  }

  /** Would a receiver accept this frame? The codec's own decoder answers. */
  function renderVerdict(wire, frame) {
    let box = $("#c-verdict");
    if (!box) {
      // Not a live region: it changes on every keystroke; #c-announce says one line when the verdict changes.
      box = el("div", { id: "c-verdict", class: "verdict" });
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
    const ext = currentExt();
    const agreed = ext ? " that agreed permessage-deflate" : ", with no extension agreed,";
    const who = `${role === "server" ? "A server" : "A client"}${agreed}`;
    const feed = (bytes) => {
      const { dec, problem } = extDecoder(role, ext);
      const limit = Math.min(bytes.length, 16384);
      let message = null, error = null;
      try {
        for (let i = 0; i < limit; i++) {
          const r = dec.push(bytes[i]);
          if (r.message) message = r.message;
        }
      } catch (e) {
        error = e;
      }
      dec.free();
      return { message, error, limit, problem };
    };
    const r = feed(wire);
    let summary;
    if (!r.error) {
      const kind = frame.isControl ? "control frame" : "message";
      let what = r.message ? `accepts it: a complete ${r.message.type} ${kind}` : "accepts it and waits for the next fragment";
      if (r.limit < wire.length) what = `accepts its header and its first ${r.limit.toLocaleString("en")} bytes (the page checks no further)`;
      box.append(el("p", { class: "ok" }, `✓ ${who} receiving this frame ${what}.`));
      if (r.problem) box.append(el("p", { class: "note", text: `The decoder could not follow the connection's window: ${r.problem}.` }));
      summary = "Verdict: accepted.";
    } else if (frame.opcode === 0 && r.error.kind === "UnexpectedContinuation") {
      // A continuation needs a first fragment before it: decode it after one.
      const first = W.encodeFrame(1, false, 0, new Uint8Array(0), frame.masked ? new Uint8Array(4) : undefined);
      const after = feed(Wisp.concat([first, wire]));
      if (!after.error) {
        box.append(el("p", { class: "ok" }, `✓ A continuation frame: after a first fragment (opcode 0x1 or 0x2, FIN = 0), `
          + `${who.charAt(0).toLowerCase()}${who.slice(1)} accepts it${frame.fin ? " and the message is complete" : " and waits for the next fragment"}.`),
        el("p", { class: "note" }, `On its own, with no message begun, it would be refused with close ${r.error.closeCode} `
          + `(${closeName(r.error.closeCode)}): ${r.error.message}. `, quoteReason(r.error.rfcReason)));
        summary = "Verdict: accepted after a first fragment.";
      } else {
        summary = failVerdict(box, who, after.error);
      }
    } else {
      summary = failVerdict(box, who, r.error);
    }
    if ($("#c-announce").textContent !== summary) $("#c-announce").textContent = summary;
  }

  function failVerdict(box, who, e) {
    box.append(el("p", { class: "bad" },
      `✗ ${who} receiving this frame fails the connection with close ${e.closeCode} (${closeName(e.closeCode)}): ${e.message}. `,
      quoteReason(e.rfcReason)));
    return `Verdict: fails the connection with close ${e.closeCode}.`;
  }

  function applyPreset(p) {
    $("#c-payload").value = p.payload;
    $("#c-payload-kind").value = p.kind;
    $("#c-opcode").value = String(p.opcode);
    $("#c-fin").checked = p.fin;
    for (const id of ["#c-rsv1", "#c-rsv2", "#c-rsv3"]) $(id).checked = false;
    $("#c-deflate").checked = false;
    $("#c-ext").checked = false;
    handoff = null;
    if (p.mask === "none") $('input[name="c-mask"][value="none"]').checked = true;
    else {
      $('input[name="c-mask"][value="typed"]').checked = true;
      $("#c-key").value = p.mask;
    }
  }

  // ---- a fragmented message (§5.4)

  /** "3, 9" -> [3, 9]: strictly increasing offsets inside a payload of `n` bytes. */
  function splitPoints(text, n) {
    const parts = text.split(/[\s,;]+/).filter(Boolean);
    const points = parts.map(Number);
    if (points.some((p) => !Number.isInteger(p) || p < 0 || p > n)) {
      throw new Error(`split points are byte offsets from 0 to ${n}`);
    }
    if (points.some((p, i) => i > 0 && p <= points[i - 1])) throw new Error("split points go up, each once");
    return points;
  }

  /**
   * The frames of a message split at `points`: the first with the message's opcode and
   * FIN = 0, continuations (opcode 0), FIN = 1 on the last; with `ping`, a ping between
   * each two. Each frame gets a fresh random key, or the typed one, or none.
   */
  function fragmentFrames(opcode, payload, points, key, ping, compressed) {
    const edges = [0, ...points, payload.length];
    const mask = () => key === "random" ? randomBytes(4) : key ?? undefined;
    const frames = [];
    for (let i = 0; i + 1 < edges.length; i++) {
      if (i > 0 && ping) {
        const data = encoder.encode(`between ${i} and ${i + 1}`);
        frames.push({ role: "ping", bytes: W.encodeFrame(9, true, 0, data, mask()) });
      }
      const last = i + 2 === edges.length;
      const piece = payload.subarray(edges[i], edges[i + 1]);
      const role = i === 0 ? "first" : last ? "last" : "middle";
      // A compressed message: RSV1 on its first frame only (RFC 7692 §6.1).
      const rsv = compressed && i === 0 ? 4 : 0;
      frames.push({ role, bytes: W.encodeFrame(i === 0 ? opcode : 0, last, rsv, piece, mask()) });
    }
    return frames;
  }

  const SEQ_ROLES = {
    first: "first fragment: the message's opcode, FIN = 0",
    middle: "continuation: opcode 0x0, FIN = 0",
    last: "last fragment: opcode 0x0, FIN = 1 ends the message",
    ping: "a ping between fragments: a control frame, not part of the message",
  };

  /**
   * The fragments of the message. `sent` is the payload as it goes on the wire: with
   * compression the DEFLATE stream, which is what gets split (RFC 7692 §6.1 lets an
   * endpoint fragment a compressed message; the receiver inflates the joined stream).
   */
  function renderSequence(payload, sent, key, compressed) {
    const box = $("#c-seq");
    const list = $("#c-seq-list");
    const err = $("#c-seq-error");
    const text = $("#c-split").value.trim();
    list.replaceChildren();
    err.replaceChildren();
    sequence = null;
    box.hidden = text === "";
    if (box.hidden) return;
    const opcode = Number($("#c-opcode").value);
    const problem = (...nodes) => {
      err.append(...nodes);
      $("#c-seq-step").disabled = true;
    };
    if (opcode >= 8) {
      return problem("A control frame cannot be split: ",
        rfcQuote("5.5", "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."));
    }
    if (opcode === 0) {
      return problem("Pick Text or Binary: the first fragment carries the message's opcode; only the ones after it are continuations (opcode 0).");
    }
    let points;
    try {
      points = splitPoints(text, sent.length);
    } catch (e) {
      return problem(`Cannot split: ${e.message}${compressed ? ` (the offsets count bytes of the ${sent.length}-byte compressed payload)` : ""}.`);
    }
    const mode = $('input[name="c-mask"]:checked').value;
    const frames = fragmentFrames(opcode, sent, points, mode === "random" ? "random" : key, $("#c-frag-ping").checked, compressed);
    for (const f of frames) {
      const d = W.decodeFrame(f.bytes);
      const rsv1 = (d.rsv & 4) !== 0;
      const what = compressed && f.role !== "ping"
        ? `${d.unmasked.length} bytes of the compressed stream: ${hex(d.unmasked.subarray(0, 24))}${d.unmasked.length > 24 ? " …" : ""}`
        : showPayload(d.unmasked, 40);
      list.append(el("li", { "data-role": f.role, "data-opcode": d.opcode, "data-fin": d.fin ? "1" : "0", "data-rsv1": rsv1 ? "1" : "0" },
        el("strong", { text: `${opHex(d.opcode)} ${opName(d.opcode)}, FIN = ${d.fin ? 1 : 0}${compressed ? `, RSV1 = ${rsv1 ? 1 : 0}` : ""}` }),
        ` (${SEQ_ROLES[f.role]}): ${what}`,
        el("br"), el("code", { class: "mono", text: hex(f.bytes.subarray(0, 48)) + (f.bytes.length > 48 ? " …" : "") })));
    }
    const all = new Uint8Array(frames.reduce((n, f) => n + f.bytes.length, 0));
    frames.reduce((at, f) => (all.set(f.bytes, at), at + f.bytes.length), 0);
    sequence = { bytes: all, role: mode === "none" ? "client" : "server", ext: currentExt() };
    box.dataset.frames = String(frames.length);
    box.dataset.hex = hex(all.subarray(0, 256));
    $("#c-seq-note").textContent = (mode === "typed"
      ? "Every frame here uses the typed key; a real client draws a new key for each frame (§10.3)."
      : mode === "random" ? "Each frame has its own random key, as a client's must (§10.3)." : "Unmasked: as a server sends them.")
      + (compressed ? ` Compressed: the message was deflated first, then its ${sent.length}-byte DEFLATE stream split at the `
        + "offsets; RSV1 = 1 on the first fragment only (RFC 7692 §6.1), and the receiver inflates the stream as the "
        + "fragments arrive, 00 00 ff ff appended after the last." : "");
    $("#c-seq-step").disabled = false;
  }
  let sequence = null;

  /**
   * Shows a frame from elsewhere (a live frame) in the composer's frame view, with `ext`,
   * the connection's permessage-deflate (extOf), or null: the payload stays as it crossed.
   */
  function show(bytes, ext) {
    const f = W.decodeFrame(bytes);
    if (!f) return;
    $("#c-preset").value = "";
    handoff = ext || null;
    $("#c-ext").checked = !!ext;
    $("#c-deflate").checked = false;
    $("#c-opcode").value = String(f.opcode);
    $("#c-fin").checked = f.fin;
    $("#c-rsv1").checked = (f.rsv & 4) !== 0;
    $("#c-rsv2").checked = (f.rsv & 2) !== 0;
    $("#c-rsv3").checked = (f.rsv & 1) !== 0;
    $("#c-payload-kind").value = "hex";
    $("#c-payload").value = hex(f.unmasked);
    $("#c-split").value = "";
    if (f.masked) {
      $('input[name="c-mask"][value="typed"]').checked = true;
      $("#c-key").value = hex(f.maskKey);
    } else {
      $('input[name="c-mask"][value="none"]').checked = true;
    }
    renderComposer();
    $("#composer").scrollIntoView();
    $("#c-opcode").focus();
  }

  function initComposer() {
    W = Wisp.codec;
    $("#c-seq-step").addEventListener("click", () => {
      if (sequence) Wisp.stepper.load(hex(sequence.bytes), sequence.role, "#s-all", sequence.ext);
    });
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

  Wisp.composer = { init: initComposer, show };
})();
