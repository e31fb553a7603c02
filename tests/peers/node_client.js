#!/usr/bin/env node
// Interop checklist client on npm `ws` for an echo server.
//
// usage: node tests/peers/node_client.js URL [--timeout S] [--ca FILE]
//
// --ca FILE: for a wss:// URL, trust the CA certificate(s) in this PEM file (only them).
//
// Connects to URL (a ws:// echo endpoint, e.g. Wisp's /echo) and runs, in order:
//   text N, binary N    echo of one message of N bytes, N in 0, 125, 126, 65536,
//                       1048576 (text: ASCII and multibyte UTF-8; binary: random)
//   fragmented text     one message sent as several frames comes back whole
//   fragmented binary   (the same, with an empty frame in the middle)
//   ping                a ping with a payload is answered by a pong with the same
//   close               the client closes with 1000 "bye"; prints `close CODE REASON`
//                       (`close CODE` if the reason is empty) as the server answered,
//                       and fails unless CODE is 1000
// Prints `ok <name>` per check on stdout. On the first failure prints
// `FAIL <name>: <why>` on stderr and exits 1. Every reply must come within 10 s
// and the whole run within --timeout seconds (default 60).
"use strict";

const crypto = require("node:crypto");
const { parseArgs } = require("node:util");
const WebSocket = require("ws");

const SIZES = [0, 125, 126, 65536, 1024 * 1024];
const MAX_MESSAGE = 64 * 1024 * 1024;
const STEP_TIMEOUT_MS = 10_000;

let step = "connect";

function fail(why) {
  console.error(`FAIL ${step}: ${why}`);
  process.exit(1);
}

function ok() {
  process.stdout.write(`ok ${step}\n`);
}

// A string whose UTF-8 encoding is exactly n bytes: 1-, 2-, 3- and 4-byte characters.
function textOfSize(n) {
  const s = "aé€😀".repeat(Math.floor(n / 10)) + "x".repeat(n % 10); // unit: 1+2+3+4 = 10 bytes
  if (Buffer.byteLength(s) !== n) throw new Error(`textOfSize(${n}) is wrong`);
  return s;
}

function describe(isBinary, size) {
  return `${isBinary ? "binary" : "text"} of ${size} bytes`;
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Messages arrive as events; recv() hands them out in order.
function inbox(ws) {
  const queue = [];
  let waiting = null;
  ws.on("message", (data, isBinary) => {
    if (waiting) { waiting({ data, isBinary }); waiting = null; }
    else queue.push({ data, isBinary });
  });
  return () => {
    if (queue.length) return Promise.resolve(queue.shift());
    return new Promise((resolve) => { waiting = resolve; });
  };
}

async function expectEcho(recv, sent, isBinary) {
  const want = isBinary ? sent : Buffer.from(sent, "utf8");
  const got = await withTimeout(recv(), "reply");
  if (got.isBinary !== isBinary || !got.data.equals(want)) {
    let why = `sent ${describe(isBinary, want.length)}, got ${describe(got.isBinary, got.data.length)} back`;
    if (got.isBinary === isBinary) {
      let i = 0;
      while (i < want.length && i < got.data.length && want[i] === got.data[i]) i++;
      why += `, first difference at byte ${i}`;
    }
    fail(why);
  }
}

async function run(url) {
  const ws = new WebSocket(url, {
    perMessageDeflate: deflateOption(options.values.deflate),
    ...(options.values.ca ? { ca: require("node:fs").readFileSync(options.values.ca) } : {}),
    maxPayload: MAX_MESSAGE,
    handshakeTimeout: STEP_TIMEOUT_MS,
  });
  ws.on("error", (e) => fail(e.message));
  ws.on("close", (code, reason) => {
    if (step !== "close") fail(`the connection closed early: code ${code}, reason "${reason}"`);
  });
  const recv = inbox(ws);
  await withTimeout(new Promise((resolve) => ws.once("open", resolve)), "open");
  process.stdout.write(`extensions ${ws.extensions}\n`);

  for (const isBinary of [false, true]) {
    for (const n of SIZES) {
      step = `${isBinary ? "binary" : "text"} ${n}`;
      const message = isBinary ? crypto.randomBytes(n) : textOfSize(n);
      ws.send(message, { binary: isBinary });
      await expectEcho(recv, message, isBinary);
      ok();
    }
  }

  step = "fragmented text";
  let fragments = ["Hello, ", "wörld", " — ", "fragmented ✓"];
  fragments.forEach((f, i) => ws.send(f, { binary: false, fin: i === fragments.length - 1 }));
  await expectEcho(recv, fragments.join(""), false);
  ok();

  step = "fragmented binary";
  fragments = [crypto.randomBytes(1000), Buffer.alloc(0), crypto.randomBytes(70000)];
  fragments.forEach((f, i) => ws.send(f, { binary: true, fin: i === fragments.length - 1 }));
  await expectEcho(recv, Buffer.concat(fragments), true);
  ok();

  step = "ping";
  const payload = Buffer.from("wisp-ping-\x00\xff", "latin1");
  const pong = new Promise((resolve) => ws.once("pong", resolve));
  ws.ping(payload);
  const answer = await withTimeout(pong, "pong");
  if (!answer.equals(payload)) fail(`pong payload ${answer.toString("hex")}, expected ${payload.toString("hex")}`);
  ok();

  step = "close";
  const closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason })));
  ws.close(1000, "bye");
  const { code, reason } = await withTimeout(closed, "close");
  const text = reason.toString("utf8");
  process.stdout.write(text ? `close ${code} ${text}\n` : `close ${code}\n`);
  if (code !== 1000) fail(`server answered the close with code ${code}, expected 1000`);
  ok();
}

function usage(why) {
  console.error(`node_client: ${why}\nusage: node tests/peers/node_client.js URL [--timeout S]`);
  process.exit(2);
}

// perMessageDeflate for --deflate (off, on, no-takeover); threshold 0 compresses all.
function deflateOption(mode) {
  if (mode === "on") return { threshold: 0 };
  if (mode === "no-takeover") return { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
  if (mode === "off") return false;
  usage(`bad --deflate: ${mode}`);
}

let options;
try {
  options = parseArgs({
    allowPositionals: true,
    options: { timeout: { type: "string", default: "60" }, deflate: { type: "string", default: "off" },
      ca: { type: "string" } },
  });
} catch (e) {
  usage(e.message);
}
if (options.positionals.length !== 1) usage("expected one URL");
const timeout = Number(options.values.timeout);
if (!(timeout > 0)) usage(`bad --timeout: ${options.values.timeout}`);

setTimeout(() => {
  console.error(`FAIL: not done after ${timeout} s`);
  process.exit(1);
}, timeout * 1000);

run(options.positionals[0]).then(
  () => process.exit(0),
  (e) => fail(e.message),
);
