#!/usr/bin/env node
// Broadcast check on npm `ws` for Wisp's /chat route: the same as py_chat.py.
//
// usage: node tests/peers/node_chat.js URL [--members N] [--deflate MODE] [--timeout S]
//
// Connects N members (default 20) to URL with `name=mI` appended, --deflate off, on
// (ws' default offer) or no-takeover. Once all have joined, member 0 says a few texts
// (JSON of 200-2,000 B and one of 100 KB); every member must receive each, in order, as
// {"type":"message","from":"m0","text":...}. Prints `extensions <names>` (member 0's
// agreed extensions) and `ok broadcast N members M messages`; on a failure prints
// `FAIL <why>` on stderr and exits 1. The whole run is bounded by --timeout (default 60).
"use strict";
const { parseArgs } = require("node:util");
const WebSocket = require("ws");

function usage(why) {
  console.error(`node_chat: ${why}\nusage: node tests/peers/node_chat.js URL [--members N] [--deflate MODE] [--timeout S]`);
  process.exit(2);
}

function deflateOption(mode) {
  if (mode === "on") return { threshold: 0 };
  if (mode === "no-takeover") return { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
  if (mode === "off") return false;
  usage(`bad --deflate: ${mode}`);
}

// A small deterministic generator, so every run says the same texts.
function texts() {
  let seed = 26;
  const next = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  return [200, 700, 2000, 100000].map((n) => {
    const items = [];
    while (JSON.stringify(items).length < n) {
      const i = items.length;
      items.push({ id: i, user: `user-${next(40)}`, ok: next(2) === 0,
        text: `message ${i} about ${["deflate", "chat", "rooms"][next(3)]}` });
    }
    return JSON.stringify(items);
  });
}

// Resolves with each chat message a member receives, in order (notices skipped).
function inbox(ws) {
  const queue = [];
  const waiting = [];
  ws.on("message", (data) => {
    const event = JSON.parse(data.toString());
    if (event.type !== "message") return;
    const w = waiting.shift();
    if (w) w(event); else queue.push(event);
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
}

async function run(url, members, deflate) {
  const sep = url.includes("?") ? "&" : "?";
  const conns = [];
  for (let i = 0; i < members; i++) {
    const ws = new WebSocket(`${url}${sep}name=m${i}`, { perMessageDeflate: deflate, maxPayload: 1 << 24 });
    const next = inbox(ws);
    await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
    conns.push({ ws, next });
  }
  console.log(`extensions ${conns[0].ws.extensions}`);
  const sent = texts();
  for (const t of sent) conns[0].ws.send(t);
  for (let i = 0; i < conns.length; i++) {
    for (const t of sent) {
      const event = await conns[i].next();
      if (event.from !== "m0" || event.text !== t) {
        throw new Error(`member ${i} got ${JSON.stringify(event).slice(0, 80)}, not m0's text of ${t.length} B`);
      }
    }
  }
  console.log(`ok broadcast ${members} members ${sent.length} messages`);
  for (const { ws } of conns) ws.close();
}

let options;
try {
  options = parseArgs({
    allowPositionals: true,
    options: { members: { type: "string", default: "20" }, deflate: { type: "string", default: "off" },
      timeout: { type: "string", default: "60" } },
  });
} catch (e) {
  usage(e.message);
}
if (options.positionals.length !== 1) usage("expected one URL");
const members = Number(options.values.members);
const timeout = Number(options.values.timeout);
if (!(members > 0) || !(timeout > 0)) usage("bad --members or --timeout");
setTimeout(() => { console.error(`FAIL not done after ${timeout} s`); process.exit(1); }, timeout * 1000).unref();
run(options.positionals[0], members, deflateOption(options.values.deflate)).then(
  () => process.exit(0),
  (e) => { console.error(`FAIL ${e.message}`); process.exit(1); },
);
