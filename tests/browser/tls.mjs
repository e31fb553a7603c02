// The demo page over https:// in Chromium (playwright-core, Debian's /usr/bin/chromium):
// the page, its scripts and the wasm load over TLS, and the live panel connects with
// wss:// to its own host and echoes.
//
//   WISP_URL=https://127.0.0.1:PORT/ WISP_SPKI=BASE64 node tests/browser/tls.mjs
//
// WISP_SPKI is the base64 SHA-256 of the server key's SubjectPublicKeyInfo: Chromium
// trusts that key (--ignore-certificate-errors-spki-list), as if the test CA were
// installed; every other certificate error stays an error. Run by
// tests/tests/browser_tls.rs. Any console error or uncaught exception fails the run.
import { chromium } from "playwright-core";

const BASE = process.env.WISP_URL;
const SPKI = process.env.WISP_SPKI;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 15000;
if (!BASE || !BASE.startsWith("https://") || !SPKI) {
  console.error("usage: WISP_URL=https://HOST:PORT/ WISP_SPKI=BASE64 node tests/browser/tls.mjs");
  process.exit(2);
}

function fail(message) {
  throw new Error(message);
}
function assertEq(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    `--ignore-certificate-errors-spki-list=${SPKI}`],
});

const results = [];
async function test(name, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push(false);
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").slice(0, 4).join("\n  ")}`);
  }
}

const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
page.on("pageerror", (e) => errors.push(`exception: ${e.message}`));
page.setDefaultTimeout(TIMEOUT);
const host = new URL(BASE).host;

await test("https: the page and its codec load over TLS; the live panel opens wss:// to its own host", async () => {
  const response = await page.goto(BASE);
  assertEq(response.status(), 200, "status of the page");
  assertEq(new URL(page.url()).protocol, "https:", "the page's scheme");
  await page.waitForSelector("body[data-ready='1']");
  assertEq(await page.inputValue("#l-url"), `wss://${host}/inspect`, "server URL field");
  await page.waitForSelector("#l-status[data-state='open']");
});

await test("wss: a message crosses the socket and its echo and the server's frame report come back", async () => {
  await page.fill("#l-message", "Hello over TLS");
  await page.click("#l-send");
  const card = ".exchange[data-n='1']";
  await page.waitForSelector(`${card}[data-echoed='1'] .wire-out .wire-view`);
  assertEq(await page.locator(`${card} .wire-in .wire-view`).first().getAttribute("data-payload"),
    "Hello over TLS", "the browser's frame as the server saw it");
  assertEq(await page.locator(`${card} .wire-out .wire-view`).first().getAttribute("data-payload"),
    "Hello over TLS", "the server's frame");
  assertEq(await page.locator(`${card} .verdicts li.bad`).count(), 0, "no failed verdict");
});

await test("wss: /echo too", async () => {
  await page.fill("#l-url", `wss://${host}/echo`);
  await page.click("#l-connect");
  await page.waitForSelector("#l-status[data-state='open']");
  await page.fill("#l-message", "to echo over TLS");
  await page.click("#l-send");
  await page.waitForSelector(".exchange[data-n='1'][data-echoed='1']");
});

await test("without the key trusted, Chromium refuses the certificate (the test CA is not trusted otherwise)", async () => {
  const plain = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const p = await plain.newPage();
    let error = "";
    try {
      await p.goto(BASE, { timeout: TIMEOUT });
    } catch (e) {
      error = String(e.message || e);
    }
    if (!/ERR_CERT_AUTHORITY_INVALID/.test(error)) fail(`expected a certificate error, got ${JSON.stringify(error)}`);
  } finally {
    await plain.close();
  }
});

await test("no console errors", async () => {
  assertEq(errors.join("\n"), "", "console errors");
});

await browser.close();
const failed = results.filter((r) => !r).length;
console.log(`\n${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
