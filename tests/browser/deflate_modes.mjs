// permessage-deflate's modes with Chromium as the client (playwright-core, Debian's
// /usr/bin/chromium): a page opens a WebSocket to WISP_WS, sends messages that repeat one
// another (so a kept window pays) and checks every echo byte for byte; text and binary,
// 0 B to 1 MiB. Chromium inflates what the server compressed, so a stream that broke the
// agreed window or context would fail the connection (1002/1006) here.
//
//   WISP_WS=ws://127.0.0.1:PORT/echo node tests/browser/deflate_modes.mjs
//
// Prints `extensions <the agreed Sec-WebSocket-Extensions>` and `echoed <N> messages`;
// any failure exits 1.
import { chromium } from "playwright-core";

const WS = process.env.WISP_WS;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!WS || !WS.startsWith("ws")) {
  console.error("usage: WISP_WS=ws://HOST:PORT/PATH node tests/browser/deflate_modes.mjs");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
let code = 0;
try {
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") console.error(`console: ${m.text()}`); });
  const result = await page.evaluate(async (url) => {
    const row = (i) => `{"id":${i},"user":"member-${i % 7}","text":"the same words again and again, message ${i}"}`;
    const texts = [""];
    for (let i = 0; i < 40; i++) texts.push(row(i).repeat(1 + (i % 5)));
    texts.push(row(99).repeat(1000)); // about 80 KiB: the 64-bit length form
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251 < 128 ? 65 + (i % 26) : i % 251;
    const binaries = [new Uint8Array(0), new Uint8Array([1, 2, 3]), big];
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const inbox = [];
    let waiting = null;
    const failed = new Promise((_, reject) => {
      ws.onclose = (e) => reject(new Error(`closed ${e.code} ${e.reason}`));
      ws.onerror = () => reject(new Error("error event"));
    });
    ws.onmessage = (e) => { inbox.push(e.data); if (waiting) { waiting(); waiting = null; } };
    const next = () => inbox.length ? Promise.resolve(inbox.shift())
      : Promise.race([failed, new Promise((r) => { waiting = r; }).then(() => inbox.shift())]);
    await Promise.race([failed, new Promise((r) => { ws.onopen = r; })]);
    let echoed = 0;
    for (const t of texts) {
      ws.send(t);
      const got = await next();
      if (got !== t) throw new Error(`text ${echoed}: ${String(got).length} chars back for ${t.length}`);
      echoed++;
    }
    for (const b of binaries) {
      ws.send(b);
      const got = new Uint8Array(await next());
      if (got.length !== b.length || got.some((x, i) => x !== b[i])) throw new Error(`binary of ${b.length} B differs`);
      echoed++;
    }
    const extensions = ws.extensions;
    ws.onclose = null;
    ws.close(1000, "done");
    return { extensions, echoed };
  }, WS);
  console.log(`extensions ${result.extensions}`);
  console.log(`echoed ${result.echoed} messages`);
} catch (e) {
  console.error(`FAIL ${e.message}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
