// WebSockets over HTTP/2 (RFC 8441) in Chromium (playwright-core, Debian's /usr/bin/chromium):
// the page loads over https:// from a wisp-tokio server that offers ALPN h2 and http/1.1 and
// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL; the page opens wss:// to its own host and
// echoes. Which HTTP version carried the page and the socket is the server's to report: run by
// tokio/tests/http2.rs, which checks it on the server's side.
//
//   WISP_URL=https://localhost:PORT/ WISP_CERT=server.pem [WISP_FEATURES=...] node tests/browser/h2.mjs
//
// Chromium trusts the server's key only (--ignore-certificate-errors-spki-list, computed here
// from WISP_CERT), as if the test CA were installed. WISP_FEATURES, if set, is passed as
// --enable-features. Prints `echoed <text>` on success; any failure exits 1.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const BASE = process.env.WISP_URL;
const CERT = process.env.WISP_CERT;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!BASE || !BASE.startsWith("https://") || !CERT) {
  console.error("usage: WISP_URL=https://HOST:PORT/ WISP_CERT=FILE node tests/browser/h2.mjs");
  process.exit(2);
}
const spkiDer = new X509Certificate(readFileSync(CERT)).publicKey.export({ type: "spki", format: "der" });
const spki = createHash("sha256").update(spkiDer).digest("base64");
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
  `--ignore-certificate-errors-spki-list=${spki}`];
if (process.env.WISP_FEATURES) args.push(`--enable-features=${process.env.WISP_FEATURES}`);
const browser = await chromium.launch({ executablePath: CHROMIUM, args });
let code = 0;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  const response = await page.goto(BASE);
  if (response.status() !== 200) throw new Error(`page status ${response.status()}`);
  await page.waitForSelector("body[data-done]", { state: "attached" });
  const result = await page.getAttribute("body", "data-done");
  console.log(result);
  if (!result.startsWith("echoed ")) code = 1;
} catch (e) {
  console.error(`FAIL ${e.message}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
