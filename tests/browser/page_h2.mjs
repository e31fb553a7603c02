// The teaching page over HTTPS from wisp-tokio's page example (tokio/examples/page.rs:
// ALPN h2 + http/1.1, SETTINGS_ENABLE_CONNECT_PROTOCOL) in Chromium (playwright-core,
// Debian's /usr/bin/chromium): the live panel connects to /inspect on its own host, a
// message is echoed with its frame reports, and the handshake panel is read back.
//
//   WISP_URL=https://localhost:PORT/ WISP_CERT=server.pem [WISP_HTTP1=1] node tests/browser/page_h2.mjs
//
// Chromium trusts the server's key only (--ignore-certificate-errors-spki-list, computed
// from WISP_CERT). WISP_HTTP1=1 starts it with --disable-http2: page and socket over
// HTTP/1.1. Prints what the page shows, one `key=value` a line; any failure (a console error, an
// uncaught exception, a failed verdict) exits 1. Run by tokio/tests/page_h2.rs, which
// checks them and, on the server's side, which transport carried the socket.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const BASE = process.env.WISP_URL;
const CERT = process.env.WISP_CERT;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!BASE || !BASE.startsWith("https://") || !CERT) {
  console.error("usage: WISP_URL=https://HOST:PORT/ WISP_CERT=FILE [WISP_HTTP1=1] node tests/browser/page_h2.mjs");
  process.exit(2);
}
const spkiDer = new X509Certificate(readFileSync(CERT)).publicKey.export({ type: "spki", format: "der" });
const spki = createHash("sha256").update(spkiDer).digest("base64");
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
  `--ignore-certificate-errors-spki-list=${spki}`];
if (process.env.WISP_HTTP1 === "1") args.push("--disable-http2");
const browser = await chromium.launch({ executablePath: CHROMIUM, args });
let code = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`exception: ${e.message}`));
  page.setDefaultTimeout(15000);
  const response = await page.goto(BASE);
  if (response.status() !== 200) throw new Error(`page status ${response.status()}`);
  await page.waitForSelector("body[data-ready='1']");
  await page.waitForSelector("#l-status[data-state='open']");
  await page.waitForSelector("#l-hs-request");
  await page.fill("#l-message", "Hello over the page's socket");
  await page.click("#l-send");
  const card = ".exchange[data-n='1']";
  await page.waitForSelector(`${card}[data-echoed='1'] .wire-out .wire-view`);
  await page.waitForSelector(`${card} .wire-in .wire-view`);
  const shown = await page.evaluate((card) => {
    const q = (s) => document.querySelector(s);
    const text = (s) => (q(s) ? q(s).textContent.replace(/\s+/g, " ").trim() : null);
    const t = q("#l-hs-transport");
    return {
      pageProtocol: performance.getEntriesByType("navigation")[0].nextHopProtocol,
      transport: t ? t.dataset.transport : null,
      stream: t ? t.dataset.stream : null,
      status: t ? t.dataset.status : null,
      summary: text("#l-hs-transport"),
      streamLine: text("#l-hs-stream"),
      shared: q("#l-hs-shared") ? Number(q("#l-hs-shared").dataset.earlier) : null,
      noKey: text("#l-hs-nokey"),
      requestFields: Array.from(document.querySelectorAll("#l-hs-request tr[data-header]"), (r) => r.dataset.header),
      responseFields: Array.from(document.querySelectorAll("#l-hs-response tr[data-header]"), (r) => r.dataset.header),
      startLine: text("#l-hs-response tr[data-header=':start'] th"),
      acceptCheck: q("#l-accept-check") ? q("#l-accept-check").className : null,
      echoPayload: q(`${card} .wire-out .wire-view`).dataset.payload,
      receivedPayload: q(`${card} .wire-in .wire-view`).dataset.payload,
      badVerdicts: document.querySelectorAll(`${card} .verdicts li.bad`).length,
    };
  }, card);
  // One "key=value" a line (lists joined by commas; absent: empty).
  for (const [k, v] of Object.entries(shown)) console.log(`${k}=${v === null ? "" : v}`);
  if (errors.length) throw new Error(errors.join("; "));
} catch (e) {
  console.error(`FAIL ${e.message}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
