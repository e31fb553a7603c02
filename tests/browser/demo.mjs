// Browser tests of the demo page (web/), driven by playwright-core with Debian's
// Chromium (/usr/bin/chromium; no browser download).
//
//   node tests/browser/demo.mjs
//
// WISP_URL=http://127.0.0.1:PORT/ uses a running wisp-server (`--web web/`); without it
// this script starts target/debug/wisp-server itself. The wasm must be built first
// (scripts/build-web.sh). Run by tests/tests/browser.rs (`cargo test -p wisp-tests
// --test browser`). Any console error or uncaught exception on any page fails the run.
// Screenshots go to target/browser-screenshots/.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = path.join(ROOT, "target/browser-screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 15000;

function fail(message) {
  throw new Error(message);
}
function assertEq(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
function assertMatch(actual, re, what) {
  if (!re.test(actual ?? "")) fail(`${what}: ${JSON.stringify(actual)} does not match ${re}`);
}

for (const f of ["web/index.html", "web/pkg/wisp_codec.js", "web/pkg-nomod/wisp_codec.js", "web/wasm_b64.js"]) {
  if (!existsSync(path.join(ROOT, f))) fail(`${f} is missing: run scripts/build-web.sh first`);
}
if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: run scripts/setup.sh`);
mkdirSync(SHOTS, { recursive: true });

// ---- the server
let serverProcess = null;
async function startServer() {
  const bin = path.join(ROOT, "target/debug/wisp-server");
  if (!existsSync(bin)) fail(`${bin} is missing: run cargo build -p wisp-server`);
  serverProcess = spawn(bin, ["--listen", "127.0.0.1:0", "--web", path.join(ROOT, "web")], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  const lines = createInterface({ input: serverProcess.stdout });
  for await (const line of lines) {
    const m = /listening on (http:\/\/\S+)/.exec(line);
    if (m) return m[1].endsWith("/") ? m[1] : `${m[1]}/`;
  }
  fail("wisp-server exited before printing its ready line");
}
const BASE = process.env.WISP_URL || (await startServer());

// ---- the browser
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});

/** A page whose console errors and uncaught exceptions are collected. */
async function newPage(viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  page.errors = [];
  page.on("console", (m) => { if (m.type() === "error") page.errors.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => page.errors.push(`exception: ${e.message}`));
  page.setDefaultTimeout(TIMEOUT);
  return page;
}

async function ready(page) {
  await page.waitForSelector("body[data-ready='1']");
}

const text = (page, sel) => page.locator(sel).first().innerText();
const attr = (page, sel, name) => page.locator(sel).first().getAttribute(name);

// ---- the tests
const results = [];
async function test(name, fn) {
  const start = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - start });
    console.log(`ok - ${name} (${Date.now() - start} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").slice(0, 4).join("\n  ")}`);
  }
}

const page = await newPage();

await test("served by wisp-server: the page loads the codec from pkg/ and connects to its own host", async () => {
  await page.goto(BASE);
  await ready(page);
  assertMatch(await text(page, "#wasm-status"), /pkg\//, "wasm status");
  const host = new URL(BASE).host;
  assertEq(await page.inputValue("#l-url"), `ws://${host}/inspect`, "server URL field");
  await page.waitForSelector("#l-status[data-state='open']");
});

await test("composer: the §5.7 masked \"Hello\" is encoded byte for byte, its fields shown", async () => {
  await page.selectOption("#c-preset", "hello-masked");
  assertEq(await attr(page, "#c-out", "data-hex"), "81 85 37 fa 21 3d 7f 9f 4d 51 58", "frame bytes");
  await page.waitForSelector("#c-rfc-check.ok");
  const value = (f) => attr(page, `#c-fields tr[data-field='${f}']`, "data-value");
  assertEq(await value("fin"), "1", "FIN");
  assertEq(await value("rsv1"), "0", "RSV1");
  assertEq(await value("opcode"), "1", "opcode");
  assertEq(await value("mask"), "1", "MASK");
  assertEq(await value("len7"), "5", "Payload len");
  assertEq(await value("maskkey"), "37 fa 21 3d", "Masking-key");
  assertEq(await value("payload"), "5", "Payload Data");
  assertMatch(await text(page, "#c-fields tr[data-field='opcode']"), /0x1 \(Text\)[\s\S]*§5\.2/, "opcode row");
  assertEq(await attr(page, "#c-fields tr[data-field='mask'] a.rfc", "href"),
    "https://www.rfc-editor.org/rfc/rfc6455#section-5.3", "MASK links to §5.3");
  // The diagram: every bit of the header, the fields over them.
  assertMatch(await text(page, "#c-diagram .dlabel[data-field='opcode']"), /opcode: 0x1/, "diagram opcode box");
  assertEq(await page.locator("#c-diagram .dbit.f-maskkey").count(), 32, "32 bits of masking key");
  // Masking octet by octet: 'H' 0x48 XOR key[0] 0x37 = 0x7f.
  assertMatch(await text(page, "#c-masking tr[data-i='0']"), /0x48 'H'[\s\S]*0x37[\s\S]*0x7f/, "masking of octet 0");
  assertMatch(await text(page, "#c-masking tr[data-i='4']"), /0x6f 'o'[\s\S]*key\[0\][\s\S]*0x58/, "masking of octet 4");
  await page.locator("#composer").screenshot({ path: path.join(SHOTS, "composer-masked-hello.png") });
});

await test("composer: the §5.7 256-byte binary frame has a 16-bit extended length", async () => {
  await page.selectOption("#c-preset", "bin256");
  assertMatch(await attr(page, "#c-out", "data-hex"), /^82 7e 01 00 00/, "frame bytes");
  assertEq(await attr(page, "#c-fields tr[data-field='len7']", "data-value"), "126", "7-bit length says 126");
  assertEq(await attr(page, "#c-fields tr[data-field='extlen']", "data-value"), "256", "extended length");
  await page.waitForSelector("#c-rfc-check.ok");
  // Editing away from an example: a control frame with FIN = 0 is refused by the codec.
  await page.selectOption("#c-preset", "ping");
  await page.uncheck("#c-fin");
  assertMatch(await text(page, "#c-verdict"), /close 1002[\s\S]*MUST NOT be fragmented/, "verdict on a fragmented ping");
  await page.check("#c-fin");
});

await test("live: a message crosses the socket; browser frame MASK=1, server frame MASK=0, both decoded", async () => {
  await page.fill("#l-message", "Hello, Wisp");
  await page.click("#l-send");
  const card = ".exchange[data-n='1']";
  await page.waitForSelector(`${card} .wire-in .wire-view`);
  await page.waitForSelector(`${card} .wire-out .wire-view`);
  const inView = `${card} .wire-in .wire-view`;
  assertEq(await attr(page, inView, "data-mask"), "1", "browser frame MASK");
  assertEq(await attr(page, inView, "data-opcode"), "1", "browser frame opcode");
  assertEq(await attr(page, inView, "data-len"), "11", "browser frame length");
  assertEq(await attr(page, inView, "data-fin"), "1", "browser frame FIN");
  assertEq(await attr(page, inView, "data-payload"), "Hello, Wisp", "browser frame unmasked payload");
  const outView = `${card} .wire-out .wire-view`;
  assertEq(await attr(page, outView, "data-mask"), "0", "server frame MASK");
  assertEq(await attr(page, outView, "data-opcode"), "1", "server frame opcode");
  assertEq(await attr(page, outView, "data-len"), "11", "server frame length");
  assertEq(await attr(page, outView, "data-payload"), "Hello, Wisp", "server frame payload");
  await page.waitForFunction((c) => document.querySelectorAll(`${c} .verdicts li`).length >= 4, card);
  assertEq(await page.locator(`${card} .verdicts li.bad`).count(), 0, "no failed verdict");
  assertMatch(await text(page, `${card} .verdicts`), /prediction equals the received bytes/, "prediction verdict");
  // A binary message too.
  await page.fill("#l-message", "bytes");
  await page.check("#l-binary");
  await page.click("#l-send");
  await page.waitForSelector(".exchange[data-n='2'] .wire-out .wire-view");
  assertEq(await attr(page, ".exchange[data-n='2'] .wire-in .wire-view", "data-opcode"), "2", "binary opcode");
  await page.uncheck("#l-binary");
  // Two messages in flight at once: each frame and echo lands on its own message.
  await page.fill("#l-message", "one");
  await page.click("#l-send");
  await page.fill("#l-message", "two");
  await page.click("#l-send");
  for (const [n, payload] of [[3, "one"], [4, "two"]]) {
    const c = `.exchange[data-n='${n}']`;
    await page.waitForSelector(`${c}[data-echoed='1'] .wire-out .wire-view`);
    assertEq(await attr(page, `${c} .wire-in .wire-view`, "data-payload"), payload, `message ${n} browser frame`);
    assertEq(await attr(page, `${c} .wire-out .wire-view`, "data-payload"), payload, `message ${n} server frame`);
    assertMatch(await text(page, `${c} .verdicts`), new RegExp(`echo arrived as a text message: "${payload}"`), `message ${n} echo`);
  }
  await page.waitForSelector("#l-accept-check");
  assertMatch(await text(page, "#l-handshake"), /Sec-WebSocket-Accept/, "handshake panel");
  await page.locator("#live").screenshot({ path: path.join(SHOTS, "live.png") });
});

await test("stepper: the masked \"Hello\" fed one byte at a time, then run to the end of the frame", async () => {
  await page.selectOption("#s-preset", { label: "§5.7 A single-frame masked text message" });
  for (let i = 0; i < 5; i++) await page.click("#s-step");
  assertEq(await attr(page, "#s-view", "data-state"), "header", "state after 5 of 6 header bytes");
  assertMatch(await text(page, "#s-known"), /header length\s*6 bytes; 1 still to come/, "what the decoder knows");
  await page.click("#s-step");
  assertEq(await attr(page, "#s-view", "data-state"), "payload", "state after the header");
  await page.click("#s-step");
  assertMatch(await text(page, "#s-payload"), /"H"/, "the first payload byte, unmasked");
  await page.click("#s-frame");
  assertEq(await attr(page, "#s-view", "data-pos"), "11", "bytes fed");
  assertEq(await attr(page, "#s-view", "data-end"), "1", "at the end");
  assertMatch(await text(page, "#s-payload"), /"Hello"/, "unmasked payload");
  assertMatch(await text(page, "#s-log"), /message complete: text "Hello"/, "the message event");
  await page.locator("#stepper").screenshot({ path: path.join(SHOTS, "stepper.png") });
  // Two frames: "Run to end of frame" stops after the first.
  await page.selectOption("#s-preset", { label: "§5.7 Both fragments, \"Hel\" + \"lo\"" });
  await page.click("#s-frame");
  assertEq(await attr(page, "#s-view", "data-pos"), "5", "stopped at the end of the first frame");
  await page.click("#s-frame");
  assertEq(await attr(page, "#s-view", "data-pos"), "9", "end of the second frame");
  assertMatch(await text(page, "#s-log"), /message complete: text "Hello"/, "fragments joined");
});

await test("broken frames: each preset shows its close code and the RFC sentence", async () => {
  const expect = {
    "unmasked": [1002, /§5\.1/], "reserved-opcode": [1002, /unknown opcode/], "fragmented-ping": [1002, /MUST NOT be fragmented/],
    "close-1-byte": [1002, /§5\.5\.1/], "invalid-utf8": [1007, /§8\.1/], "length-top-bit": [1002, /most significant bit/],
  };
  for (const [id, [code, reason]] of Object.entries(expect)) {
    await page.click(`#e-presets button[data-preset='${id}']`);
    assertEq(await attr(page, "#e-result", "data-close-code"), String(code), `${id}: close code`);
    assertEq(await text(page, "#e-code"), String(code), `${id}: shown code`);
    assertMatch(await text(page, "#e-reason"), reason, `${id}: RFC sentence`);
  }
  await page.click("#e-presets button[data-preset='unmasked']");
  await page.locator("#errors").screenshot({ path: path.join(SHOTS, "errors.png") });
  await page.screenshot({ path: path.join(SHOTS, "page-1280.png"), fullPage: true });
});

await test("labelled and keyboard usable: every control has a label; Enter sends", async () => {
  const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll("input, select, textarea, button"))
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
    .map((e) => e.id || e.outerHTML.slice(0, 60)));
  assertEq(unlabelled.join(", "), "", "controls without a label");
  await page.focus("#l-message");
  await page.fill("#l-message", "typed");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".exchange[data-n='5'] .wire-out .wire-view");
  await page.focus("#s-reset");
  await page.keyboard.press("Enter");
  assertEq(await attr(page, "#s-view", "data-pos"), "0", "reset by keyboard");
});

await test("no console errors on the page served by wisp-server", async () => {
  assertEq(page.errors.join("\n"), "", "console errors");
});

await test("phone width: readable, no sideways scrolling of the page", async () => {
  const phone = await newPage({ width: 390, height: 844 });
  await phone.goto(BASE);
  await ready(phone);
  await phone.selectOption("#c-preset", "hello-masked");
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`the page is ${overflow} px wider than the phone`);
  await phone.locator("#composer").screenshot({ path: path.join(SHOTS, "phone-composer.png") });
  await phone.screenshot({ path: path.join(SHOTS, "phone-top.png") });
  assertEq(phone.errors.join("\n"), "", "console errors");
  await phone.close();
});

await test("file://: the page opened from disk loads the embedded wasm; the composer works", async () => {
  const disk = await newPage();
  await disk.goto(pathToFileURL(path.join(ROOT, "web/index.html")).href);
  await ready(disk);
  assertMatch(await text(disk, "#wasm-status"), /wasm_b64\.js/, "wasm status");
  assertEq(await disk.inputValue("#l-url"), "ws://127.0.0.1:9001/inspect", "default server URL");
  assertEq(await attr(disk, "#l-status", "data-state"), "idle", "no connection attempted from disk");
  await disk.selectOption("#c-preset", "hello");
  assertEq(await attr(disk, "#c-out", "data-hex"), "81 05 48 65 6c 6c 6f", "the §5.7 unmasked Hello");
  await disk.selectOption("#c-payload-kind", "text");
  await disk.fill("#c-payload", "Hi!");
  await disk.check("input[name='c-mask'][value='typed']");
  await disk.fill("#c-key", "01 02 03 04");
  assertEq(await attr(disk, "#c-out", "data-hex"), "81 83 01 02 03 04 49 6b 22", "typed frame");
  await disk.click("#e-presets button[data-preset='invalid-utf8']");
  assertEq(await text(disk, "#e-code"), "1007", "error preset from disk");
  // From disk the page sends `Origin: null`, which wisp-server accepts by default.
  await disk.fill("#l-url", `ws://${new URL(BASE).host}/inspect`);
  await disk.click("#l-connect");
  await disk.waitForSelector("#l-status[data-state='open']");
  await disk.fill("#l-message", "from disk");
  await disk.click("#l-send");
  await disk.waitForSelector(".exchange[data-n='1'] .wire-out .wire-view");
  assertEq(await attr(disk, ".exchange[data-n='1'] .wire-in .wire-view", "data-mask"), "1", "browser frame MASK from disk");
  assertEq(await attr(disk, ".exchange[data-n='1'] .wire-in .wire-view", "data-payload"), "from disk", "payload from disk");
  await disk.screenshot({ path: path.join(SHOTS, "file-url.png") });
  assertEq(disk.errors.join("\n"), "", "console errors");
  await disk.close();
});

await test("no server: Connect to a closed port gives a clear status, the rest keeps working", async () => {
  const disk = await newPage();
  await disk.goto(pathToFileURL(path.join(ROOT, "web/index.html")).href);
  await ready(disk);
  await disk.fill("#l-url", "ws://127.0.0.1:9/inspect");
  await disk.click("#l-connect");
  await disk.waitForSelector("#l-status[data-state='error']");
  assertMatch(await text(disk, "#l-status"), /Could not connect[\s\S]*Is wisp-server running\?/, "status");
  assertEq(await disk.isDisabled("#l-send"), true, "Send stays disabled");
  await disk.selectOption("#c-preset", "ping");
  assertEq(await attr(disk, "#c-out", "data-hex"), "89 05 48 65 6c 6c 6f", "composer still works");
  // Chromium itself reports the refused connection; the page adds nothing.
  const others = disk.errors.filter((e) => !/WebSocket connection to 'ws:\/\/127\.0\.0\.1:9\/inspect' failed/.test(e));
  assertEq(others.join("\n"), "", "console errors besides Chromium's own report");
  await disk.locator("#live").screenshot({ path: path.join(SHOTS, "no-server.png") });
  await disk.close();
});

await browser.close();
if (serverProcess) serverProcess.kill();
const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${path.relative(ROOT, SHOTS)}/`);
process.exit(failed.length ? 1 : 0);
