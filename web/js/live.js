// Wisp demo page, panel 2: a real connection to wisp-server's /inspect. Each message
// the page sends is predicted, then compared with the bytes the server reports; a second
// socket, /inspect?watch=ID, feeds the timeline (timeline.js) with every frame of the
// connection, its closing handshake and the end of TCP included. The scenario buttons
// ask the server for fragments, pings and a close (command messages, see
// server/src/routes.rs).
"use strict";

(() => {
  const {
    $, el, rfcLink, hex, hex2, parseHex, encoder, showPayload, opName, closeName, closeText, randomBytes,
    wireView, setStatus, percent, extOf,
  } = Wisp;
  let W = null;

  /** The live connection: its socket, what it is, and how it is ending. */
  let conn = null; // {sock, url, path, opened, reporting, closing: {code, reason} | null}
  let watcher = null;
  let exchangeCount = 0;
  const pendingEchoes = []; // {key, x}: messages sent whose echo is still to come
  const awaitingIn = []; // exchanges waiting for the report of the frame the server received
  const awaitingOut = []; // ... and of the frame the server sent back
  const liveFrames = []; // {label, hex, role, deflate}: the stepper's presets
  const MAX_LIVE_FRAMES = 40;

  const RFC7692 = "https://www.rfc-editor.org/rfc/rfc7692";
  const link7692 = (section) => el("a", { class: "rfc", href: `${RFC7692}#section-${section}`, title: `RFC 7692 section ${section}` },
    `RFC 7692 §${section}`);

  /**
   * permessage-deflate as the handshake agreed it, for the frames of one connection: the
   * parameters (checked by the codec) and one inflater per direction, which sees every
   * compressed frame of its direction in order (the window may carry over).
   */
  function deflateState(params) {
    const side = (takeover, whose) => ({
      takeover, compressing: false, skip: false, lost: null, inflater: new W.Inflater(takeover), whose,
      history: [], historyLost: null, messages: 0, // the data frames so far, for hand-offs (extOf)
    });
    const st = {
      params,
      in: side(!params.clientNoContextTakeover, "the browser"),
      out: side(!params.serverNoContextTakeover, "the server"),
    };
    if (st.out.takeover) {
      // The server's report messages are compressed with the same window but never reported.
      st.out.lost = "not inflated: the server keeps its window across messages, and its report messages, "
        + "never reported themselves, are part of that window";
    }
    return st;
  }

  /**
   * Inflates one reported data frame, when its message is compressed: `null` for an
   * uncompressed message, else `{bytes, partial}` or `{problem}`.
   */
  function inflateFrame(side, frame, truncated) {
    if (frame.opcode !== 0) {
      side.compressing = (frame.rsv & 4) !== 0;
      side.skip = false;
    }
    if (!side.compressing) return null;
    if (side.lost) return { problem: side.lost };
    if (side.skip) {
      if (frame.fin) side.skip = false;
      return { problem: "not inflated: an earlier frame of this message was cut in the report" };
    }
    try {
      if (truncated) {
        // The shown prefix inflates to a prefix of the message; the rest of the stream is unknown.
        const bytes = side.inflater.inflate(frame.unmasked, false);
        side.inflater.free();
        side.inflater = new W.Inflater(side.takeover);
        if (side.takeover) {
          side.lost = `not inflated: a frame too long to be reported whole came before, and ${side.whose} keeps its window across messages`;
        } else {
          side.skip = !frame.fin;
        }
        return { bytes, partial: true };
      }
      return { bytes: side.inflater.inflate(frame.unmasked, frame.fin), partial: false };
    } catch (e) {
      side.lost = `not inflated: ${e.message} (close ${e.closeCode})`;
      return { problem: side.lost };
    }
  }

  /**
   * Adds a data frame to its direction's history, after a hand-off snapshot of the state
   * before it was taken: a sender that keeps its window makes every later message depend on it.
   */
  function remember(side, bytes, frame, truncated) {
    if (!side || frame.isControl || !side.takeover) return;
    if (truncated) {
      side.historyLost = side.historyLost || `a frame too long to be reported whole came before, and ${side.whose} `
        + "keeps its window across messages: the page cannot replay it";
    } else {
      side.history.push(bytes);
    }
    if (frame.fin) side.messages += 1;
  }

  /** permessage-deflate as a handshake report shows it agreed: `{state, problem}`. */
  function deflateFor(report) {
    const heads = reportHeads(report);
    const value = (head) => head.headers
      .filter(([n]) => n.toLowerCase() === "sec-websocket-extensions").map(([, v]) => v).join(", ");
    try {
      const params = W.negotiatedDeflate(value(heads.req), value(heads.res));
      return { state: params ? deflateState(params) : null, problem: null };
    } catch (e) {
      return { state: null, problem: e.message };
    }
  }

  /**
   * The "decline compression" switch: adds `?deflate=off` to an /inspect URL (the server
   * then declines the browser's permessage-deflate offer), or takes it away.
   */
  function applyDeflateSwitch() {
    const input = $("#l-url");
    let url;
    try {
      url = new URL(input.value.trim());
    } catch (e) {
      return;
    }
    if (url.pathname !== "/inspect") return;
    if ($("#l-deflate-off").checked) url.searchParams.set("deflate", "off");
    else url.searchParams.delete("deflate");
    input.value = url.href;
  }

  function defaultUrl() {
    if (location.protocol === "http:" || location.protocol === "https:") {
      return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/inspect`;
    }
    return "ws://127.0.0.1:9001/inspect";
  }

  function buttons(state) {
    const open = state === "open";
    $("#l-send").disabled = !open;
    $$scenario().forEach((b) => { b.disabled = !open; });
    $("#l-connect").disabled = state === "connecting";
    $("#l-disconnect").disabled = !open;
  }
  const $$scenario = () => Array.from(document.querySelectorAll("#live-scenarios button"));

  function forgetPending(why) {
    for (const x of new Set([...awaitingIn, ...awaitingOut])) {
      for (const col of x.card.querySelectorAll(".col.wire-in, .col.wire-out")) {
        const waiting = col.querySelector(".note.waiting");
        if (waiting) waiting.textContent = why;
      }
    }
    pendingEchoes.length = 0;
    awaitingIn.length = 0;
    awaitingOut.length = 0;
  }

  function connect() {
    const url = $("#l-url").value.trim();
    const status = $("#l-status");
    if (conn) {
      // A new conversation: the old socket closes quietly, its events are ignored.
      const old = conn.sock;
      conn = null;
      if (old.readyState <= WebSocket.OPEN) old.close(1000, "reconnecting");
    }
    closeWatcher();
    forgetPending("no report: the page connected again");
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      setStatus(status, "error", `Not a WebSocket URL: ${e.message}`);
      handshakeNote(`No handshake: ${url} is not a WebSocket URL.`);
      return;
    }
    const path = new URL(sock.url).pathname;
    const c = { sock, url, path, opened: false, reporting: path === "/inspect", closing: null };
    conn = c;
    sock.binaryType = "arraybuffer";
    setStatus(status, "connecting", `Connecting to ${url} …`);
    handshakeNote("Connecting: the opening handshake shows here once the server reports it.");
    Wisp.timeline.reset(c.reporting ? "Waiting for the opening handshake and the server's report of this connection…"
      : "Waiting for the opening handshake…");
    buttons("connecting");
    sock.onopen = () => {
      if (conn !== c) return;
      c.opened = true;
      setStatus(status, "open", c.reporting
        ? `Connected to ${url}. Send a message: each one shows the frames that really crossed the socket.`
        : `Connected to ${url}. This route sends no frame reports (only /inspect does): messages show their echo only.`);
      buttons("open");
      if (!c.reporting) {
        Wisp.timeline.reset(`No timeline: ${path} reports no frames (only /inspect does).`);
        renderHandshake(null);
      }
    };
    sock.onmessage = (ev) => { if (conn === c) onLiveMessage(ev.data); };
    sock.onerror = () => { /* the close event that follows says what happened */ };
    sock.onclose = (ev) => {
      if (conn !== c) return;
      buttons("closed");
      forgetPending("no report: the connection closed first");
      if (!c.opened) {
        setStatus(status, "connecting", `The connection to ${url} failed; asking the same address over HTTP why …`);
        handshakeNote(`No handshake: the connection to ${url} failed.`);
        Wisp.timeline.reset("No timeline: the connection failed before its opening handshake completed.");
        diagnose(sock.url).then((d) => {
          if (conn !== c) return;
          status.dataset.http = d.status === null ? "" : String(d.status);
          setStatus(status, "error", failureText(url, path, d));
        });
        return;
      }
      const theirs = ev.code === 1005 ? "a close frame without a status code"
        : ev.code === 1006 ? "no close frame at all (code 1006: the connection dropped)"
          : `close ${closeText(ev.code, ev.reason)}`;
      const text = c.closing
        ? `Closed. The page sent close ${closeText(c.closing.code, c.closing.reason)}; the server answered with ${theirs}.`
        : `The server closed the connection with ${theirs}${ev.wasClean ? "; the browser answered with its own close frame" : ""}.`;
      setStatus(status, "closed", `${text} The timeline shows both close frames and the end of TCP.`);
    };
  }

  /**
   * Why a WebSocket did not open. The WebSocket API hides the HTTP answer from scripts (a
   * failed handshake is only "error, then close 1006"), so the page asks the same address
   * over http(s) with a plain GET: `{answered, status, statusText, body, html, href}`.
   * From another origin (file://) the browser hides that answer's status and body too,
   * unless the server allows it (CORS): then `status` is null.
   */
  async function diagnose(wsUrl) {
    const u = new URL(wsUrl);
    u.protocol = u.protocol === "wss:" ? "https:" : "http:";
    const same = (location.protocol === "http:" || location.protocol === "https:") && u.origin === location.origin;
    let d;
    try {
      const res = await fetch(u.href, { mode: same ? "same-origin" : "no-cors", cache: "no-store" });
      if (res.type === "opaque") d = { answered: true, status: null, href: u.href };
      else {
        const type = res.headers.get("content-type") || "";
        const body = await res.text();
        d = { answered: true, status: res.status, statusText: res.statusText, body, html: /html/i.test(type), href: u.href };
      }
    } catch (_) {
      return { answered: false, status: null, href: u.href, routes: null };
    }
    d.routes = await routeList(u);
    return d;
  }

  /**
   * The server's WebSocket routes from its GET /routes (wisp-server's demo; readable from
   * any origin, file:// included), or null when it does not list them.
   */
  async function routeList(u) {
    try {
      const res = await fetch(new URL("/routes", u).href, { mode: "cors", cache: "no-store" });
      if (!res.ok) return null;
      const j = await res.json();
      return Array.isArray(j.routes) && j.routes.every((r) => typeof r === "string") ? j.routes : null;
    } catch (_) {
      return null;
    }
  }

  /** The status line after a failed connection, from what `diagnose` learnt. */
  function failureText(url, path, d) {
    const host = new URL(d.href).host;
    const rest = " The composer, stepper and broken frames work without a connection.";
    if (!d.answered) {
      return `Could not connect to ${url}: nothing answers at ${host} (the connection was refused or timed out, or the browser `
        + "does not connect to that port at all). "
        + "Is wisp-server running? Start it with scripts/demo.sh (wisp-server --listen 127.0.0.1:9001 --web web/), "
        + `then press Connect.${rest}`;
    }
    const refused = `Could not connect to ${url}: a server answers at ${host}, so it is running, but it refused the `
      + `WebSocket handshake for ${path}. `;
    const listed = !d.routes ? " (this server does not list them at GET /routes)"
      : d.routes.length ? `: this one has ${d.routes.join(", ")}, says its GET /routes` : ": this one has none, says its GET /routes";
    const routes = `wisp-server answers an upgrade to a path that is no WebSocket route with 404 and the list of its routes${listed}. `;
    const suggest = d.routes && d.routes.length ? (d.routes.includes("/inspect") ? "/inspect" : d.routes[0]) : "/inspect";
    if (d.status === null) {
      return `${refused}${routes}The browser hides that answer from scripts, and from this page (${location.protocol}//) `
        + `it hides a plain GET of ${d.href} too (the server sends no CORS header).${rest}`;
    }
    const line = d.body.trim().split("\n")[0] || "";
    const body = d.html ? `an HTML page of ${d.body.length.toLocaleString("en")} characters`
      : line ? `“${line.length > 200 ? `${line.slice(0, 200)}…` : line}”` : "no body";
    return `${refused}The browser hides the handshake's answer from scripts, so the page asked for ${d.href} without `
      + `the Upgrade header: HTTP ${d.status}${d.statusText ? ` ${d.statusText}` : ""}, ${body}. ${routes}`
      + `Try ${new URL(url).protocol}//${host}${suggest}.${rest}`;
  }

  /** Starts the closing handshake with the code and reason of the form (§7.1.2). */
  function disconnect() {
    if (!conn || conn.sock.readyState !== WebSocket.OPEN) return;
    const code = Number($("#l-close-code").value);
    const reason = $("#l-close-reason").value;
    try {
      conn.sock.close(code, reason);
    } catch (e) {
      setStatus($("#l-status"), "error", closeRefusal(code, reason, e));
      return;
    }
    conn.closing = { code, reason };
    buttons("closing");
    setStatus($("#l-status"), "closing",
      `Close ${closeText(code, reason)} sent. Waiting for the server's close frame (§5.5.1) …`);
  }

  /** Why the browser's close() threw, each rule with its source. */
  function closeRefusal(code, reason, e) {
    const len = encoder.encode(reason).length;
    if (e.name === "SyntaxError" && len > 123) {
      return `The browser refused to close: the reason is ${len} bytes of UTF-8, and a close frame's body is the `
        + "2-byte code and at most 123 bytes of reason, since a control frame carries at most 125 bytes (RFC 6455 §5.5, "
        + "§5.5.1). The WebSocket API's close() checks this itself and throws a SyntaxError (WHATWG WebSockets standard).";
    }
    return `The browser refused to close with code ${$("#l-close-code").value} (${e.name}). That is the WebSocket API's `
      + "rule: a script's close() may use only 1000 or 3000-4999 (WHATWG WebSockets standard, the close() method). "
      + "RFC 6455 §7.4.2 divides the codes: 1000-2999 are reserved for the protocol and its extensions, 3000-3999 "
      + "for libraries, frameworks and applications (registered with IANA), 4000-4999 for private use.";
  }

  function sendLive() {
    if (!conn || conn.sock.readyState !== WebSocket.OPEN) return;
    const text = $("#l-message").value;
    const binary = $("#l-binary").checked;
    const payload = encoder.encode(text);
    const opcode = binary ? 2 : 1;
    exchangeCount += 1;
    const x = newExchange(exchangeCount, payload, opcode);
    pendingEchoes.push({ key: binary ? `bin:${hex(payload)}` : `text:${text}`, x });
    if (conn.reporting) {
      awaitingIn.push(x);
      awaitingOut.push(x);
    }
    conn.sock.send(binary ? payload : text);
  }

  /** Sends a command message: the server runs a scenario (server/src/routes.rs). */
  function command(c) {
    if (!conn || conn.sock.readyState !== WebSocket.OPEN) return;
    if (!conn.reporting) {
      $("#l-scenario-result").textContent = `Only /inspect runs scenarios; this is ${conn.path}.`;
      return;
    }
    conn.sock.send(JSON.stringify(c));
  }

  /** Whether the connection agreed permessage-deflate, from the report or the browser itself. */
  const deflateAgreed = () => !!(conn && (conn.deflate || /permessage-deflate/i.test(conn.sock.extensions || "")));

  function newExchange(n, payload, opcode) {
    const key = "The masking key is not known either: the browser draws a fresh one for every frame (§5.3, §10.3), "
      + "so no script can choose the bytes on the wire.";
    let predicted;
    if (deflateAgreed()) {
      // The browser may compress: RSV1 and the length are its zlib's to decide.
      const plain = hex2(0x80 | opcode), compressed = hex2(0xc0 | opcode);
      predicted = el("div", { class: "col predicted", "data-rsv1": "unknown", "data-length": "unknown" },
        el("h4", { text: "The page's prediction" }),
        el("p", { class: "mono wire" }, el("span", { class: "unknown", text: `${plain} or ${compressed}` }), " ",
          el("span", { class: "unknown", text: "??" }), " ", el("span", { class: "unknown", text: "(+0, 2 or 8 length bytes)" }),
          " ", el("span", { class: "unknown", text: "?? ?? ?? ??" }), " ", el("span", { class: "unknown", text: "(data XOR key)" })),
        el("p", { class: "note" }, `FIN = 1, ${opName(opcode)}, MASK = 1: known before sending. RSV1 and the length are not known `
          + "until the browser compresses: permessage-deflate is agreed."),
        el("details", { class: "why" }, el("summary", { text: "Why" }),
          el("p", { class: "note" }, `The browser may compress the ${payload.length.toLocaleString("en")} bytes (Chromium compresses `
            + "every message; see the handshake below), then sets RSV1 = 1 and sends the length of the compressed payload, which "
            + "only its zlib knows. ", key, " With compression the live frames are mostly short: the 16-bit length form shows "
            + "only when a message is still over 125 bytes compressed, the 64-bit form only over 65,535; the composer's §5.7 "
            + "examples show both.")));
    } else {
      // The prediction: every header bit is known; the key is the browser's choice.
      const withZeroKey = W.encodeFrame(opcode, true, 0, payload, new Uint8Array(4));
      const frame = W.decodeFrame(withZeroKey);
      const head = hex(withZeroKey.subarray(0, frame.headerLen - 4));
      predicted = el("div", { class: "col predicted", "data-rsv1": "0", "data-length": String(payload.length) },
        el("h4", { text: "The page's prediction" }),
        el("p", { class: "mono wire" }, head, " ", el("span", { class: "unknown", text: "?? ?? ?? ??" }),
          " ", el("span", { class: "unknown", text: payload.length ? `(${payload.length} bytes: payload XOR key)` : "" })),
        el("p", { class: "note" }, `FIN = 1, RSV1 = 0, ${opName(opcode)}, MASK = 1, length ${payload.length}: all known before `
          + "sending, since no extension is agreed. ", key));
    }
    const waiting = conn.reporting ? "waiting for the server's report…"
      : `no report: ${conn.path} does not report frames (only /inspect does)`;
    const card = el("article", { class: "exchange", "data-n": n, "data-opcode": opcode },
      el("h3", {}, `Message ${n}: `, el("span", { class: "mono", text: showPayload(payload, Wisp.narrow.matches ? 20 : 60, false) }), ` (${opName(opcode).toLowerCase()}, ${payload.length.toLocaleString("en")} bytes)`),
      el("div", { class: "cols" },
        predicted,
        el("div", { class: "col wire-in", "data-dir": "in" }, el("h4", { text: "Browser → server: the bytes the server received" }), el("p", { class: "note waiting", text: waiting })),
        el("div", { class: "col wire-out", "data-dir": "out" }, el("h4", { text: "Server → browser: the bytes the server sent" }), el("p", { class: "note waiting", text: waiting }))),
      el("ul", { class: "verdicts" }));
    const x = { n, card, payload, opcode };
    $("#l-exchanges").prepend(card);
    announce(`Message ${n} sent: ${opName(opcode).toLowerCase()}, ${payload.length.toLocaleString("en")} bytes.`);
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
    let report = null;
    if (!binary && conn.reporting) {
      try {
        report = JSON.parse(data);
      } catch (_) { /* a plain message */ }
    }
    switch (report && report.type) {
      case "frame": if (typeof report.hex === "string") onFrameReport(report); return;
      case "handshake": onHandshake(report); return;
      case "scenario": case "error": onScenario(report); return;
      default: received(bytes, binary);
    }
  }

  /** A message that is neither an echo nor a report: a scenario's reassembled message, say. */
  function received(bytes, binary) {
    const list = $("#l-received");
    list.hidden = false;
    list.append(el("li", { "data-binary": binary ? "1" : "0" },
      `The page received one ${binary ? "binary" : "text"} message of ${bytes.length} bytes: `,
      el("span", { class: "mono", text: showPayload(bytes, 120) }),
      " (the browser joined its fragments, if any: the page never sees them, §5.4)."));
  }

  function onHandshake(report) {
    if (conn && typeof report.request === "string") {
      const d = deflateFor(report);
      conn.deflate = d.state;
      conn.deflateProblem = d.problem;
    }
    renderHandshake(report);
    if (typeof report.id === "number") openWatcher(report.id);
    else Wisp.timeline.reset("No timeline: this server reports the frames on the socket itself, but offers no watcher "
      + "(/inspect?watch=ID is wisp-server's).");
  }

  function onScenario(report) {
    const box = $("#l-scenario-result");
    box.replaceChildren();
    if (report.type === "error") {
      box.append(el("p", { class: "bad", text: `The server refused the command: ${report.error}` }));
      return;
    }
    box.append(el("p", {}, el("strong", { text: `Scenario “${report.name}”: ` }), report.does, "."));
  }

  // ---- the watcher: every report of the connection, after its close too

  function openWatcher(id) {
    closeWatcher();
    const url = new URL(conn.sock.url);
    url.search = `?watch=${id}`;
    const sock = new WebSocket(url.href);
    watcher = sock;
    Wisp.timeline.reset(`Connection #${id}: opening the watcher ${url.pathname}${url.search} …`);
    sock.onmessage = (ev) => {
      if (watcher !== sock || typeof ev.data !== "string") return;
      let r;
      try {
        r = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      Wisp.timeline.add(r);
    };
    sock.onclose = (ev) => {
      if (watcher !== sock) return;
      watcher = null;
      const ok = ev.code === 1000;
      Wisp.timeline.note(`The watcher closed: ${closeText(ev.code, ev.reason)}.`, ok ? "note" : "bad");
    };
  }

  function closeWatcher() {
    if (!watcher) return;
    const old = watcher;
    watcher = null;
    if (old.readyState <= WebSocket.OPEN) old.close(1000, "done watching");
  }

  /** One line for screen readers per event: the cards themselves are not a live region. */
  function announce(line) {
    $("#l-announce").textContent = line;
  }

  function markEcho(x, bytes, binary) {
    x.card.dataset.echoed = "1";
    announce(`Message ${x.n}: the echo arrived; its frames are shown in the card.`);
    $(".verdicts", x.card).append(el("li", { class: "ok" },
      `✓ The echo arrived as a ${binary ? "binary" : "text"} message: ${showPayload(bytes, Wisp.narrow.matches ? 16 : 32)}`));
  }

  /**
   * The first of `queue` whose payload is this frame's (its reported prefix, if cut); for
   * a compressed frame, what it inflated to, or the first of its opcode when it could not
   * be inflated (reports come in the order the frames crossed).
   */
  function takeExchange(queue, frame, truncated, inflated) {
    const data = inflated ? inflated.bytes : frame.unmasked;
    const got = data ? hex(data) : null;
    const i = queue.findIndex((x) => x.opcode === frame.opcode && (got === null
      || (inflated && inflated.partial ? hex(x.payload.subarray(0, data.length)) === got
        : truncated && !inflated ? hex(x.payload.subarray(0, data.length)) === got && x.payload.length === frame.payloadLen
          : hex(x.payload) === got)));
    return i < 0 ? null : queue.splice(i, 1)[0];
  }

  function onFrameReport(report) {
    const bytes = parseHex(report.hex);
    let frame;
    try {
      frame = W.decodeFrame(bytes);
    } catch (e) {
      Wisp.timeline.note(`A reported frame does not decode: ${e.message} (close ${e.closeCode})`, "bad");
      return;
    }
    if (!frame) return;
    const dir = report.dir === "in" ? "in" : "out";
    const deflate = conn && conn.deflate;
    // What a receiver needs to decode this frame: the state before it (the stepper's preset).
    const ext = deflate ? extOf(deflate[dir]) : null;
    const inflated = deflate && !frame.isControl ? inflateFrame(deflate[dir], frame, report.truncated) : null;
    if (deflate) remember(deflate[dir], bytes, frame, report.truncated);
    const compressed = !!inflated;
    const label = `Live: ${dir === "in" ? "browser → server" : "server → browser"} ${opName(frame.opcode)} (${bytes.length} bytes${frame.rsv & 4 ? ", compressed" : ""})`;
    liveFrames.push({ label, hex: hex(bytes), role: dir === "in" ? "server" : "client", ext });
    if (liveFrames.length > MAX_LIVE_FRAMES) liveFrames.shift();
    Wisp.stepper.refreshPresets();
    // Only whole data messages belong to an exchange; the timeline shows every frame.
    if (frame.isControl || !frame.fin || frame.opcode === 0) return;
    const x = takeExchange(dir === "in" ? awaitingIn : awaitingOut, frame, report.truncated, inflated);
    if (!x) return;
    const col = $(dir === "in" ? ".wire-in" : ".wire-out", x.card);
    col.replaceChildren(col.firstChild, wireView(bytes, frame, dir, report.truncated, inflated));
    if (compressed) {
      const whole = inflated.bytes && !inflated.partial;
      const sizes = el("p", { class: "note deflate-sizes", "data-compressed-len": frame.payloadLen,
        "data-inflated-len": whole ? inflated.bytes.length : "" },
      "RSV1 = 1: a compressed message (", link7692("6"), `): ${frame.payloadLenText} bytes on the wire`);
      if (whole) {
        sizes.append("; inflated, 00 00 ff ff appended (", link7692("7.2.2"),
          `), ${inflated.bytes.length.toLocaleString("en")} bytes: the wire carries ${percent(frame.payloadLen, inflated.bytes.length)} of them.`);
      } else if (inflated.partial) {
        sizes.append(`; its first ${bytes.length.toLocaleString("en")} bytes (all the report shows) inflate to the first `
          + `${inflated.bytes.length.toLocaleString("en")} bytes of the message.`);
      } else {
        sizes.append(`; ${inflated.problem}.`);
      }
      col.append(sizes);
    }
    const verdicts = $(".verdicts", x.card);
    // A report holds at most the first 64 KiB of a frame: compare what it shows.
    const shown = bytes.length;
    const cut = report.truncated
      ? ` (the first ${shown.toLocaleString("en")} bytes, all that the server reports of a frame; `
        + `the frame is ${report.wire_len.toLocaleString("en")} bytes, as predicted)` : "";
    const matches = (predicted) => hex(predicted.subarray(0, shown)) === hex(bytes)
      && predicted.length === (report.truncated ? report.wire_len : shown);
    if (compressed) {
      compressedVerdicts(x, frame, dir, inflated, verdicts, matches, cut);
      return;
    }
    if (dir === "in") {
      const again = W.encodeFrame(x.opcode, true, 0, x.payload, frame.maskKey ?? undefined);
      const same = matches(again);
      verdicts.append(el("li", { class: frame.masked ? "ok" : "bad" },
        frame.masked ? `✓ MASK = 1: the browser masked its frame with key ${hex(frame.maskKey)}, as every client MUST (§5.1).`
          : "✗ MASK = 0: an unmasked client frame; the server MUST fail the connection (§5.1)."));
      $(".predicted", x.card).append(el("p", { class: "mono wire" },
        el("span", { class: "note", text: "With the browser's key filled in: " }), hex(again.subarray(0, 64)),
        again.length > 64 ? " …" : ""));
      verdicts.append(el("li", { class: same ? "ok" : "bad" },
        same ? `✓ With that key, the page's prediction equals the received bytes, every one${cut}.`
          : "✗ With that key, the prediction differs from the received bytes (fragmented, or an extension?)."));
    } else {
      const predicted = W.encodeFrame(x.opcode, true, 0, x.payload, undefined);
      const same = matches(predicted);
      verdicts.append(el("li", { class: same ? "ok" : "bad" },
        same ? `✓ MASK = 0 and the server's frame equals the page's prediction byte for byte${cut}: a server never masks.`
          : "✗ The server's frame differs from the prediction."));
    }
  }

  /** The verdicts on a compressed frame: RSV1, the inflated message, the server's bytes. */
  function compressedVerdicts(x, frame, dir, inflated, verdicts, matches, cut) {
    const sentHere = inflated.bytes && (inflated.partial
      ? hex(x.payload.subarray(0, inflated.bytes.length)) === hex(inflated.bytes)
      : hex(x.payload) === hex(inflated.bytes));
    if (dir === "in") {
      verdicts.append(el("li", { class: frame.masked ? "ok" : "bad" },
        frame.masked ? `✓ MASK = 1: the browser masked its frame with key ${hex(frame.maskKey)}, as every client MUST (§5.1).`
          : "✗ MASK = 0: an unmasked client frame; the server MUST fail the connection (§5.1)."));
      const pred = $(".predicted", x.card);
      ($("details.why", pred) || pred).append(el("p", { class: "note" },
        "The browser compressed the message: its compressed bytes are its own zlib's choice, which no page can predict; "
        + "the page checks them by inflating them with the wasm codec."));
    }
    if (!inflated.bytes) {
      verdicts.append(el("li", { class: "note", text: `RSV1 = 1: compressed; ${inflated.problem}.` }));
      return;
    }
    const what = inflated.partial ? "the shown bytes inflate to the start of the message sent"
      : `inflated by the wasm codec, its ${frame.payloadLen.toLocaleString("en")} bytes are the ${x.payload.length.toLocaleString("en")} bytes of the message sent`;
    const shownCut = ` (the first ${(frame.frameLen - frame.payloadLen + frame.unmasked.length).toLocaleString("en")} bytes, `
      + `all that the server reports of a frame of ${frame.frameLen.toLocaleString("en")} bytes)`;
    verdicts.append(el("li", { class: sentHere ? "ok" : "bad" }, sentHere
      ? `✓ RSV1 = 1, a compressed message: ${what}${inflated.partial ? shownCut : ""}. `
      : "✗ RSV1 = 1, but the inflated payload differs from the message sent. ", link7692("7.2.2")));
    if (dir === "out") {
      const p = conn.deflate.params;
      if (!p.serverNoContextTakeover) return;
      // A fresh window for every message: the server's bytes follow from the message alone.
      const d = W.deflateMessage(x.payload, p.serverMaxWindowBits);
      const predicted = W.encodeFrame(x.opcode, true, 4, d.compressed, undefined);
      const same = matches(predicted);
      verdicts.append(el("li", { class: same ? "ok" : "bad" }, same
        ? `✓ The server's frame equals the page's prediction byte for byte${cut}: the same codec compressed the message `
          + `(a fresh ${p.serverMaxWindowBits}-bit window, server_no_context_takeover), the sync flush's 00 00 ff ff removed `
        : "✗ The server's compressed frame differs from the page's prediction ", link7692("7.2.1")));
    }
  }

  // ---- the opening handshake, header by header

  /** What each header of the opening handshake is for, and where the RFC says so. */
  const HEADERS = {
    host: ["4.1", "The server's host and port, as in any HTTP/1.1 request; a server that serves several names checks it."],
    upgrade: ["4.1", "“websocket”: the client asks to switch this HTTP connection to the WebSocket Protocol."],
    connection: ["4.1", "Must include “Upgrade”, so that proxies know the Upgrade header is meant for this hop."],
    "sec-websocket-key": ["4.1", "16 random bytes in base64, new for each connection. The server proves it understood the request by hashing it into Sec-WebSocket-Accept."],
    "sec-websocket-version": ["4.1", "13, the version of RFC 6455; a server that speaks another answers 426 with the versions it speaks."],
    origin: ["10.2", "Sent by browsers: the site whose script opened the connection (“null” from a file). A server may refuse origins it does not trust (wisp-server --origin)."],
    "sec-websocket-protocol": ["1.9", "Subprotocols the client can speak; the server picks one or none."],
    "sec-websocket-accept": ["4.2.2", "base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)): checked below."],
    "user-agent": [null, "Not part of the WebSocket handshake: the browser sends it with every request."],
    "accept-encoding": [null, "Not part of the WebSocket handshake: an HTTP header the browser adds (it does not compress frames)."],
    "accept-language": [null, "Not part of the WebSocket handshake: an HTTP header the browser adds."],
    pragma: [null, "Not part of the WebSocket handshake: the browser asks caches not to answer for the server."],
    "cache-control": [null, "Not part of the WebSocket handshake: the browser asks caches not to answer for the server."],
  };

  function headLines(text) {
    const lines = text.split("\r\n").filter((l) => l !== "");
    const first = lines.shift() || "";
    return { first, headers: lines.map((l) => {
      const i = l.indexOf(":");
      return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    }) };
  }

  /**
   * The fields of an HTTP/2 handshake report, one "name: value" a line: HTTP/2 has no
   * start line, its pseudo-headers (":method", ":status", ...) begin with a colon.
   */
  function fieldLines(text) {
    return text.split("\r\n").filter((l) => l !== "").map((l) => {
      const i = l.indexOf(":", l.startsWith(":") ? 1 : 0);
      return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    });
  }

  /** The two heads of a handshake report, `{h2, req, res}`, each `{first, headers}` (`first` null over HTTP/2). */
  function reportHeads(report) {
    const h2 = report.transport === "HTTP/2";
    const read = (text) => (h2 ? { first: null, headers: fieldLines(text || "") } : headLines(text || ""));
    return { h2, req: read(report.request), res: read(report.response) };
  }

  function headerTable(first, firstMeaning, headers, explain, what = "Line") {
    const body = el("tbody", {}, first === null ? null : el("tr", { "data-header": ":start" },
      el("th", { scope: "row", class: "mono", text: first }), el("td", {}, firstMeaning)));
    for (const [name, value] of headers) {
      const [section, text] = explain(name.toLowerCase(), value);
      body.append(el("tr", { "data-header": name.toLowerCase() },
        el("th", { scope: "row" }, el("code", { text: `${name}: ${value}` })),
        el("td", {}, text, section ? " " : "", section ? rfcLink(section) : "")));
    }
    return el("div", { class: "table-wrap" }, el("table", { class: "headers" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: what }), el("th", { scope: "col", text: "What it does" }))), body));
  }

  function handshakeNote(text) {
    $("#l-handshake").replaceChildren(el("p", { class: "note", text }));
  }

  const RFC8441 = "https://www.rfc-editor.org/rfc/rfc8441";
  const link8441 = (section) => el("a", { class: "rfc", href: `${RFC8441}#section-${section}`, title: `RFC 8441 section ${section}` },
    `RFC 8441 §${section}`);
  const link9113 = (section) => el("a", { class: "rfc", href: `https://www.rfc-editor.org/rfc/rfc9113#section-${section}`,
    title: `RFC 9113 section ${section}` }, `RFC 9113 §${section}`);

  /** What each field of an extended CONNECT and its answer is for (RFC 8441 §4-5). */
  const H2_FIELDS = {
    ":method": () => ["“CONNECT”: in HTTP/2 a socket is a tunnel on one stream, not a GET that switches protocols; "
      + "this request replaces the GET of RFC 6455 ", link8441("5")],
    ":protocol": () => ["“websocket”: the pseudo-header RFC 8441 adds; a CONNECT that carries it is an extended CONNECT, "
      + "and this value asks for the WebSocket Protocol on the stream ", link8441("4"), ", ", link8441("5")],
    ":scheme": (v) => [`“${v}”: a request with :protocol also carries :scheme and :path (a plain CONNECT has neither) `,
      link8441("4"), ": “https” for a wss:// URL, “http” for ws:// ", link8441("5")],
    ":authority": () => ["The authority of the target URI, as HTTP/1.1's Host header gives it. In a plain CONNECT it would name "
      + "the host and port to tunnel to; with :protocol it means what it means in any other request ", link8441("4")],
    ":path": () => ["The path and query of the target URI, the resource to connect to, as the request line's target in HTTP/1.1 ",
      link8441("5")],
    ":status": () => ["200: the CONNECT succeeded (a CONNECT succeeds with a 2xx ", link9113("8.5"), "): the server agrees to the "
      + "WebSocket connection, and this answer on the stream stands for the 101; any other status ends the handshake ",
    link8441("5")],
    "sec-websocket-version": () => ["13, as over HTTP/1.1: Origin, Sec-WebSocket-Version, -Protocol and -Extensions are used as "
      + "RFC 6455 defines them (in lower case: HTTP/2 sends field names in lower case) ", link8441("5")],
  };

  /**
   * The handshake panel for a socket that came over HTTP/2 (RFC 8441): no 101, no key or
   * accept, the stream that carried it and what else its connection carried, every field
   * explained. The report: {"transport":"HTTP/2","stream":N,"earlier_count":N,"earlier":[{stream,request}],
   * "request":"<fields>","response":"<fields>"}.
   */
  function renderH2Handshake(report, box) {
    const { req, res } = reportHeads(report);
    const has = (head, name) => head.headers.some(([n]) => n.toLowerCase() === name);
    const answered = res.headers.find(([n]) => n.toLowerCase() === "sec-websocket-extensions");
    const status = (res.headers.find(([n]) => n === ":status") || [])[1] || "";
    const stream = Number(report.stream);
    const earlier = Array.isArray(report.earlier) ? report.earlier : [];
    const count = Number.isInteger(report.earlier_count) ? report.earlier_count : earlier.length;
    const explain = (name, value) => {
      if (H2_FIELDS[name]) return [null, el("span", {}, ...H2_FIELDS[name](value))];
      if (name === "sec-websocket-extensions") {
        const offer = /permessage-deflate/i.test(value)
          ? "An offer of permessage-deflate (RFC 7692): compress each message's payload, with these parameters. " : "An offer of extensions. ";
        return ["9.1", offer + (answered ? `The server accepted “${answered[1]}”.`
          : "The server's answer has no sec-websocket-extensions: it accepted none, so RSV1-3 stay 0.")];
      }
      return HEADERS[name] || [null, "Not part of the WebSocket handshake."];
    };
    const explainResponse = (name, value) => {
      if (name === "sec-websocket-extensions") {
        return ["9.1", "The server's answer: it accepts permessage-deflate (RFC 7692) with these parameters, "
          + "so RSV1 = 1 now marks a compressed message, in both directions."];
      }
      return explain(name, value);
    };
    const odd = Number.isInteger(stream) && stream % 2 === 1;
    const shared = earlier.map((e) => `stream ${e.stream}: ${e.request}`);
    box.append(
      el("div", { id: "l-hs-transport", class: "ok", "data-transport": "HTTP/2", "data-stream": String(stream),
        "data-status": status },
      el("p", {}, el("strong", { text: `This socket came over HTTP/2, on stream ${stream}. ` }),
        `There was no 101 Switching Protocols: the browser sent an extended CONNECT (:method CONNECT with :protocol websocket) `
        + `on a new stream of its HTTP/2 connection, and the server answered :status ${status || "?"} on that stream `,
        link8441("5"), ". From then on the stream's DATA frames carry the RFC 6455 frames below, masks included, "
        + "as if the stream were the TCP connection of RFC 6455."),
      el("ul", {},
        el("li", { id: "l-hs-stream" }, `Stream ${stream}: ${odd ? "an odd id, so the client opened it" : "the id the server saw"} `,
          "(client-initiated streams have odd ids ", link9113("5.1.1"), "). The browser could send an extended CONNECT only "
          + "because the server's SETTINGS frame carried SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 ", link8441("3"), "."),
        el("li", { id: "l-hs-shared", "data-earlier": String(count) }, count
          ? `The same TCP and TLS connection had already carried ${count} request${count > 1 ? "s" : ""} before the socket `
            + `(${shared.slice(0, 8).join(", ")}${count > 8 ? ", …" : ""}): the socket is one more stream beside them, and `
            + "other requests may go on while it is open."
          : "The server saw no other request on this connection before the socket: it is the connection's first stream the "
            + "server served, and later requests of the page may share it."),
        el("li", { id: "l-hs-nokey" }, has(req, "sec-websocket-key") || has(res, "sec-websocket-accept")
          ? "✗ A Sec-WebSocket-Key or Sec-WebSocket-Accept field is present, which an extended CONNECT does not use "
          : "No Sec-WebSocket-Key in the request and no Sec-WebSocket-Accept in the answer: “that functionality has been "
            + "superseded by the :protocol pseudo-header field”, so there is no key to hash here ", link8441("5")),
        el("li", {}, has(req, "upgrade") || has(req, "connection")
          ? "✗ The request carries Upgrade or Connection, which RFC 8441 forbids in this CONNECT "
          : "No Upgrade and no Connection field: they are not part of HTTP/2 (connection-specific fields are forbidden ",
        link9113("8.2.2"), ") and “MUST NOT be included in the CONNECT request” ", link8441("5")))),
      el("div", { class: "cols" },
        el("div", { class: "col", id: "l-hs-request" }, el("h4", { text: `Request the server received (HEADERS, stream ${stream})` }),
          headerTable(null, null, req.headers, explain, "Field")),
        el("div", { class: "col", id: "l-hs-response" }, el("h4", { text: `Response the server sent (HEADERS, stream ${stream})` }),
          headerTable(null, null, res.headers, explainResponse, "Field"),
          answered ? null : el("p", { class: "note", id: "l-hs-noext" },
            "No sec-websocket-extensions field: the server accepted no extension ", rfcLink("9.1")))),
      el("details", {}, el("summary", { text: "Both header blocks, as the server decoded them" }),
        el("p", { class: "note", text: "HTTP/2 sends these fields in binary HEADERS frames, compressed with HPACK, not as lines "
          + "of text: here they are one a line, as the server decoded them (pseudo-headers first)." }),
        el("pre", { text: report.request.trimEnd() }), el("pre", { text: (report.response || "").trimEnd() })));
    const d = conn && conn.deflate;
    if (d) {
      const p = d.params;
      box.append(el("p", { id: "l-hs-deflate", class: "ok" },
        "✓ Checked in wasm as a client checks the answer (", link7692("7.1"), "): permessage-deflate agreed, ",
        el("code", { text: p.header }), ", as over HTTP/1.1."));
    } else if (conn && conn.deflateProblem) {
      box.append(el("p", { class: "bad", id: "l-hs-deflate" }, `✗ The server's permessage-deflate answer is refused: ${conn.deflateProblem} `, link7692("7.1")));
    }
  }

  /**
   * The handshake panel. Browsers never show the handshake to scripts; /inspect reports it
   * ({"type":"handshake","request":"...","response":"..."}), and every header is explained;
   * without a report the page shows the request the codec would send.
   */
  function renderHandshake(report) {
    const box = $("#l-handshake");
    box.replaceChildren();
    if (report && typeof report.request === "string" && report.transport === "HTTP/2") {
      renderH2Handshake(report, box);
      return;
    }
    if (report && typeof report.request === "string") {
      const req = headLines(report.request);
      const res = headLines(report.response || "");
      const answered = res.headers.find(([n]) => n.toLowerCase() === "sec-websocket-extensions");
      const explain = (name, value) => {
        if (name === "sec-websocket-extensions") {
          const offer = /permessage-deflate/i.test(value)
            ? "An offer of permessage-deflate (RFC 7692): compress each message's payload, with these parameters. " : "An offer of extensions. ";
          return ["9.1", offer + (answered
            ? `The server accepted “${answered[1]}”.`
            : "The server's response has no Sec-WebSocket-Extensions: it accepted none, so RSV1-3 stay 0 and payloads go uncompressed.")];
        }
        return HEADERS[name] || [null, "Not part of the WebSocket handshake."];
      };
      const explainResponse = (name) => {
        if (name === "upgrade") {
          return ["4.2.2", "“websocket”: the server confirms the switch: after this response's empty line, both ends speak "
            + "the WebSocket Protocol on this connection."];
        }
        if (name === "connection") {
          return ["4.2.2", "“Upgrade”: the server confirms that this hop's connection is upgraded, as the 101 says."];
        }
        if (name === "sec-websocket-extensions") {
          return ["9.1", "The server's answer: it accepts permessage-deflate (RFC 7692) with these parameters, "
            + "so RSV1 = 1 now marks a compressed message, in both directions."];
        }
        return HEADERS[name] || [null, "Not part of the WebSocket handshake."];
      };
      box.append(
        el("div", { class: "cols" },
          el("div", { class: "col", id: "l-hs-request" }, el("h4", { text: "Request the server received" }),
            headerTable(req.first, ["A GET, HTTP/1.1 or later, to the resource to connect to ", rfcLink("4.1")], req.headers, explain)),
          el("div", { class: "col", id: "l-hs-response" }, el("h4", { text: "Response the server sent" }),
            headerTable(res.first, ["101: the server switches this connection to the WebSocket Protocol; any other status ends the handshake ", rfcLink("4.2.2")],
              res.headers, explainResponse),
            answered ? null : el("p", { class: "note", id: "l-hs-noext" },
              "No Sec-WebSocket-Extensions line: the server accepted no extension (it speaks none) ", rfcLink("9.1")))),
        el("details", {}, el("summary", { text: "Both heads as they crossed the socket" }),
          el("pre", { text: report.request.trimEnd() }), el("pre", { text: (report.response || "").trimEnd() })));
      const d = conn && conn.deflate;
      if (d) {
        const p = d.params;
        const takeover = (no, who) => (no ? `starts every message with an empty window (${who}_no_context_takeover)`
          : "keeps its window from one message to the next (context takeover)");
        box.append(el("div", { id: "l-hs-deflate", class: "ok" },
          el("p", {}, "✓ Checked in wasm as a client checks the answer (", link7692("7.1"), "): permessage-deflate agreed, ",
            el("code", { text: p.header }), ", for the offer ", el("code", { text: p.offer }), "."),
          el("ul", {},
            el("li", {}, `The server ${takeover(p.serverNoContextTakeover, "server")}, with a window of ${p.serverMaxWindowBits} bits (${(1 << p.serverMaxWindowBits).toLocaleString("en")} bytes).`),
            el("li", {}, `The browser ${takeover(p.clientNoContextTakeover, "client")}, with a window of ${p.clientMaxWindowBits} bits (${(1 << p.clientMaxWindowBits).toLocaleString("en")} bytes).`),
            el("li", {}, "Each compressed message: RSV1 = 1 on its first frame, its payload a DEFLATE stream ended by a sync flush whose 00 00 ff ff is removed (",
              link7692("7.2.1"), "); control frames are never compressed (", link7692("6.1"), ")."))));
      } else if (conn && conn.deflateProblem) {
        box.append(el("p", { class: "bad", id: "l-hs-deflate" }, `✗ The server's permessage-deflate answer is refused: ${conn.deflateProblem} `, link7692("7.1")));
      }
      let parsed = null, problem = null;
      try {
        parsed = W.parseRequest(encoder.encode(report.request));
      } catch (e) {
        problem = `${e.message} (HTTP ${e.status})`;
      }
      const sent = /^sec-websocket-accept:\s*(\S+)\s*$/im.exec(report.response || "");
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
    const url = new URL(conn ? conn.sock.url : $("#l-url").value);
    const built = W.clientRequest(url.host, url.pathname + url.search, randomBytes(16));
    box.append(
      el("p", { class: "note" }, "Browsers do not let scripts see the opening handshake, and this route does not report it. "
        + "Here is the request the codec builds for this URL with a random nonce, and the answer a server must compute:"),
      el("pre", { text: built.request.trimEnd() }),
      el("p", { id: "l-accept-check" }, "Sec-WebSocket-Accept = base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")) = ",
        el("code", { text: W.acceptKey(built.key) }), " ", rfcLink("1.3"), " (for the RFC's own key ",
        el("code", { text: "dGhlIHNhbXBsZSBub25jZQ==" }), " the codec gives ", el("code", { text: W.acceptKey("dGhlIHNhbXBsZSBub25jZQ==") }), ")."));
    if (conn) {
      box.append(el("p", { class: "note" },
        `Negotiated by the real handshake: subprotocol “${conn.sock.protocol || "none"}”, extensions “${conn.sock.extensions || "none"}”.`));
    }
  }

  function init() {
    W = Wisp.codec;
    $("#l-url").value = defaultUrl();
    $("#l-deflate-off").addEventListener("change", applyDeflateSwitch);
    $("#live-connect").addEventListener("submit", (e) => { e.preventDefault(); connect(); });
    $("#l-disconnect").addEventListener("click", disconnect);
    $("#live-send").addEventListener("submit", (e) => { e.preventDefault(); sendLive(); });
    $("#live-scenarios").addEventListener("submit", (e) => e.preventDefault());
    $("#l-sc-fragments").addEventListener("click", () => command({
      command: "fragments", text: $("#l-frag-text").value, fragments: Number($("#l-frag-n").value), ping: $("#l-frag-ping").checked,
      compress: $("#l-frag-compress").checked,
    }));
    $("#l-sc-ping").addEventListener("click", () => command({ command: "ping", data: $("#l-ping-data").value }));
    $("#l-sc-close").addEventListener("click", () => command({
      command: "close", code: Number($("#l-sc-code").value), reason: $("#l-sc-reason").value,
    }));
    buttons("closed");
    if (location.protocol === "http:" || location.protocol === "https:") {
      connect(); // served by wisp-server: talk to it
    } else {
      setStatus($("#l-status"), "idle", "Opened from disk: start wisp-server (scripts/demo.sh), check the URL and press Connect.");
    }
  }

  Wisp.live = { init, liveFrames, deflateFor, inflateFrame, remember, watch: openWatcher,
    url: () => (conn ? conn.sock.url : null) };
})();
