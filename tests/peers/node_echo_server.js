#!/usr/bin/env node
// Echo server on npm `ws`, an interop peer for Wisp's client.
//
// usage: node tests/peers/node_echo_server.js [--port P] [--timeout S]
//
// Listens on 127.0.0.1:P (P = 0, the default, picks a free port) and prints
// `LISTENING <port>` on stdout once it accepts connections. Every text or binary
// message comes back with the same type. Messages up to 64 MiB and 1 000 000
// fragments, no compression, no keepalive pings. Exits 0 on SIGTERM or SIGINT;
// exits 2 with a message on stderr if it is still running after --timeout
// seconds (default 60), so a test that forgets to stop it leaves nothing behind.
"use strict";

const { parseArgs } = require("node:util");
const { WebSocketServer } = require("ws");

const MAX_MESSAGE = 64 * 1024 * 1024;
const MAX_FRAGMENTS = 1_000_000;

function fail(message) {
  console.error(`node_echo_server: ${message}`);
  process.exit(1);
}

function usage(why) {
  console.error(`node_echo_server: ${why}\nusage: node tests/peers/node_echo_server.js [--port P] [--timeout S]`);
  process.exit(2);
}

// perMessageDeflate for --deflate: threshold 0 compresses every message (ws's default
// leaves those under 1 KiB alone).
function deflateOption(mode) {
  if (mode === "on") return { threshold: 0 };
  if (mode === "no-takeover") return { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
  if (mode === "off") return false;
  usage(`bad --deflate: ${mode}`);
}

let options;
try {
  options = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      timeout: { type: "string", default: "60" },
      deflate: { type: "string", default: "off" }, // off, on, no-takeover
    },
  }).values;
} catch (e) {
  usage(e.message);
}
const port = Number(options.port);
const timeout = Number(options.timeout);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port: ${options.port}`);
if (!(timeout > 0)) usage(`bad --timeout: ${options.timeout}`);

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port,
  maxPayload: MAX_MESSAGE,
  maxFragments: MAX_FRAGMENTS, // ws's default is 16384; Autobahn 9.3.1 sends 65536
  perMessageDeflate: deflateOption(options.deflate),
});

wss.on("listening", () => {
  process.stdout.write(`LISTENING ${wss.address().port}\n`);
});
wss.on("error", (e) => fail(`cannot listen on 127.0.0.1:${port}: ${e.message}`));

wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", (e) => console.error(`node_echo_server: connection error: ${e.message}`));
});

function stop() {
  wss.close();
  for (const ws of wss.clients) ws.terminate();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

setTimeout(() => {
  console.error(`node_echo_server: still running after ${timeout} s, exiting`);
  process.exit(2);
}, timeout * 1000).unref();
