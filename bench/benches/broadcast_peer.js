// The Node side of `cargo bench -p wisp-bench --bench broadcast` (not a test): npm `ws`
// as a one-room chat, every text a client sends goes to every client, compressed per
// client with --deflate on (ws has no way to compress once for many: ws #1468).
//
// usage: node bench/benches/broadcast_peer.js PORT on|off
"use strict";
const WebSocket = require("ws");

const [port, mode] = process.argv.slice(2);
if (!(Number(port) > 0) || !["on", "off"].includes(mode)) {
  console.error("usage: node bench/benches/broadcast_peer.js PORT on|off");
  process.exit(2);
}
// threshold 0: every message compressed, as wisp compresses all but the tiniest.
const perMessageDeflate = mode === "on" ? { threshold: 0 } : false;
const wss = new WebSocket.Server({ host: "127.0.0.1", port: Number(port), perMessageDeflate, maxPayload: 1 << 24 });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    for (const c of wss.clients) c.send(data, { binary: isBinary });
  });
});
