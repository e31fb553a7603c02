// Browser tests of the demo page (web/), driven by playwright-core with Debian's
// Chromium (/usr/bin/chromium; no browser download).
//
//   node tests/browser/demo.mjs
//
// WISP_URL=http://127.0.0.1:PORT/ uses a running wisp-server (`--web web/`); without it
// this script starts target/debug/wisp-server itself. The wasm must be built first
// (scripts/build-web.sh). Run by tests/tests/browser.rs (`cargo test -p wisp-tests
// --test browser`). Any console error or uncaught exception on any page fails the run.
// Screenshots go to target/browser-screenshots/. WISP_ONLY=REGEX runs only the tests whose
// names match.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
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
// WISP_ONLY=REGEX runs only the tests whose names match (while working on the page).
const only = process.env.WISP_ONLY ? new RegExp(process.env.WISP_ONLY) : null;
async function test(name, fn) {
  if (only && !only.test(name)) return;
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
  // Chromium compresses every message (permessage-deflate): the page inflates it.
  assertEq(await attr(page, inView, "data-rsv1"), "1", "browser frame RSV1");
  assertEq(await attr(page, inView, "data-inflated-len"), "11", "browser frame inflated length");
  assertEq(await attr(page, inView, "data-fin"), "1", "browser frame FIN");
  assertEq(await attr(page, inView, "data-payload"), "Hello, Wisp", "browser frame unmasked, inflated payload");
  const outView = `${card} .wire-out .wire-view`;
  // wisp-server sends a message under 32 bytes uncompressed (its compress threshold).
  assertEq(await attr(page, outView, "data-rsv1"), "0", "server frame RSV1");
  assertEq(await attr(page, outView, "data-mask"), "0", "server frame MASK");
  assertEq(await attr(page, outView, "data-opcode"), "1", "server frame opcode");
  assertEq(await attr(page, outView, "data-len"), "11", "server frame length");
  assertEq(await attr(page, outView, "data-payload"), "Hello, Wisp", "server frame payload");
  await page.waitForFunction((c) => document.querySelectorAll(`${c} .verdicts li`).length >= 4, card);
  assertEq(await page.locator(`${card} .verdicts li.bad`).count(), 0, "no failed verdict");
  assertMatch(await text(page, `${card} .verdicts`), /RSV1 = 1, a compressed message: inflated by the wasm codec/, "inflate verdict");
  assertMatch(await text(page, `${card} .verdicts`), /server's frame equals the page's prediction byte for byte/, "prediction verdict");
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

await test("composer: the compression switch deflates the payload, shows the removed tail and sets RSV1", async () => {
  await page.selectOption("#c-preset", "hello");
  await page.check("#c-deflate");
  assertEq(await page.isChecked("#c-rsv1"), true, "RSV1 set");
  assertEq(await text(page, "#c-deflate-tail"), "00 00 ff ff", "the removed tail");
  assertMatch(await text(page, "#c-deflate-view"), /5 bytes become \d+ bytes[\s\S]*RFC 7692 §7\.2\.1/, "sizes and the RFC");
  assertMatch(await attr(page, "#c-out", "data-hex"), /^c1 /, "FIN, RSV1, text");
  assertMatch(await text(page, "#c-verdict"), /accepts it: a complete text message/, "a receiver with deflate agreed accepts it");
  await page.selectOption("#c-preset", "hello");
  assertEq(await page.isChecked("#c-deflate"), false, "a preset turns compression off");
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
    "rsv1-continuation": [1002, /RFC 7692 §6\.1[\s\S]*non-first fragments/],
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

await test("live: Chromium negotiates permessage-deflate; a compressed frame each way shows RSV1 = 1, its compressed and inflated sizes", async () => {
  const json = JSON.stringify({ type: "quote", items: Array.from({ length: 8 }, (_, i) => ({ id: i, symbol: "WISP", price: 100 + i, ok: true })) });
  await page.fill("#l-message", json);
  await page.click("#l-send");
  const card = ".exchange[data-n='6']";
  await page.waitForSelector(`${card}[data-echoed='1'] .wire-out .wire-view`);
  await page.waitForFunction((c) => document.querySelectorAll(`${c} .verdicts li`).length >= 3, card);
  assertEq(await page.locator(`${card} .verdicts li.bad`).count(), 0, "no failed verdict");
  for (const dir of ["in", "out"]) {
    const view = `${card} .wire-${dir} .wire-view`;
    assertEq(await attr(page, view, "data-rsv1"), "1", `${dir}: RSV1 = 1 on the live frame`);
    assertEq(await attr(page, view, "data-payload"), json, `${dir}: the inflated message`);
    const sizes = `${card} .wire-${dir} .deflate-sizes`;
    const compressed = Number(await attr(page, sizes, "data-compressed-len"));
    assertEq(await attr(page, sizes, "data-inflated-len"), String(json.length), `${dir}: inflated size`);
    if (!(compressed > 0 && compressed < json.length)) fail(`${dir}: compressed size ${compressed} of ${json.length}`);
    assertMatch(await text(page, sizes), new RegExp(`RSV1 = 1: a compressed message[\\s\\S]*${compressed} bytes on the wire[\\s\\S]*${json.length} bytes`), `${dir}: sizes shown`);
  }
  assertMatch(await text(page, `${card} .verdicts`), /server's frame equals the page's prediction byte for byte[\s\S]*server_no_context_takeover/, "the server's compressed bytes predicted");
  // The timeline shows the compressed frames too.
  await page.waitForSelector("#l-timeline .tl-row[data-kind='frame'][data-dir='out'][data-rsv1='1']");
  await page.locator(`${card}`).screenshot({ path: path.join(SHOTS, "live-deflate.png") });
});

await test("live: a message over 64 KiB is compared on the prefix the server reports, without a false ✗", async () => {
  // Pseudo-random CJK text: it stays over 64 KiB compressed.
  let seed = 12345; // xorshift32
  const big = Array.from({ length: 70000 }, () => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return String.fromCharCode(0x4e00 + ((seed >>> 0) % 20000));
  }).join("");
  await page.fill("#l-message", big);
  await page.click("#l-send");
  const card = ".exchange[data-n='7']";
  await page.waitForSelector(`${card}[data-echoed='1'] .wire-out .wire-view`);
  await page.waitForFunction((c) => document.querySelectorAll(`${c} .verdicts li`).length >= 3, card);
  assertEq(await page.locator(`${card} .verdicts li.bad`).count(), 0, "no false verdict");
  assertMatch(await text(page, `${card} .verdicts`), /shown bytes inflate to the start of the message sent \(the first 65,536 bytes/, "the browser's frame: its prefix inflated");
  assertMatch(await text(page, `${card} .verdicts`), /prediction byte for byte \(the first 65,536 bytes[\s\S]*as predicted\)/, "the server's frame: its prefix predicted");
  await page.fill("#l-message", "Hello");
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
  // The watcher works from disk too (both sockets send `Origin: null`).
  await disk.waitForSelector("#l-timeline .tl-row[data-kind='frame'][data-dir='out'][data-opcode='1']");
  assertMatch(await text(disk, "#l-timeline-title"), /Connection #\d+/, "the timeline from disk");
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
  // Chromium itself reports the refused connection, and refuses the page's plain GET to port 9
  // (a port it never connects to); the page adds nothing.
  const others = disk.errors.filter((e) => !/WebSocket connection to 'ws:\/\/127\.0\.0\.1:9\/inspect' failed|Failed to load resource: net::ERR_UNSAFE_PORT/.test(e));
  assertEq(others.join("\n"), "", "console errors besides Chromium's own report");
  await disk.locator("#live").screenshot({ path: path.join(SHOTS, "no-server.png") });
  await disk.close();
});

// ---- the conversation: watcher, timeline, scenarios, closing handshake

/** A page connected to /inspect whose timeline has the opening handshake. */
async function livePage(viewport) {
  const p = await newPage(viewport);
  await p.goto(BASE);
  await ready(p);
  await p.waitForSelector("#l-status[data-state='open']");
  await p.waitForSelector(".tl-row[data-kind='handshake']");
  return p;
}

const rows = (p, sel = "") => p.locator(`#l-timeline .tl-row[data-kind='frame']${sel}`);
/** "out:1:0" for every frame row: direction, opcode, FIN. */
const frameList = (p) => p.evaluate(() => Array.from(document.querySelectorAll("#l-timeline .tl-row[data-kind='frame']"),
  (r) => `${r.dataset.dir}:${r.dataset.opcode}:${r.dataset.fin}`));

await test("scenario: fragments with a ping between: the browser's pongs and one reassembled message on the timeline", async () => {
  const p = await livePage();
  await p.click("#l-sc-fragments");
  await p.waitForFunction(() => document.querySelectorAll("#l-timeline .tl-row[data-opcode='10'][data-dir='in']").length === 2);
  const frames = await frameList(p);
  const from = frames.indexOf("out:1:0");
  assertEq(frames.slice(from, from + 7).join(" "), "out:1:0 out:9:1 out:0:0 out:9:1 out:0:1 in:10:1 in:10:1",
    "fragments, pings between them, then the browser's pongs");
  assertMatch(await text(p, ".tl-scenario"), /MAY be injected in the middle of a fragmented message/, "the RFC sentence");
  assertMatch(await text(p, "#l-timeline .tl-row[data-opcode='10'][data-dir='in']"), /automatic answer, with the ping's data/, "pong row");
  assertEq(await p.locator("#l-received li").count(), 1, "the page received one message");
  assertMatch(await text(p, "#l-received li"), /one text message of 16 bytes: "Hello, fragments"/, "reassembled by the browser");
  // A plain ping too.
  await p.click("#l-sc-ping");
  await p.waitForSelector("#l-timeline .tl-row[data-opcode='10'][data-dir='in'] >> nth=2");
  assertMatch(await text(p, "#l-timeline .tl-row[data-opcode='10'][data-dir='in'] >> nth=2"), /"are you there\?"/, "pong data");
  // A frame opens in the frame view.
  await p.click("#l-timeline .tl-row[data-opcode='0'][data-fin='1'] .tl-head");
  const view = "#l-timeline .tl-row[data-opcode='0'][data-fin='1'] .wire-view";
  assertEq(await attr(p, view, "data-payload"), "gments", "the last fragment's payload");
  assertEq(await attr(p, view, "data-mask"), "0", "server frames are not masked");
  await p.locator("#l-timeline").screenshot({ path: path.join(SHOTS, "timeline-fragments-1280.png") });
  // ... and in the composer's frame view.
  await p.click("#l-timeline .tl-row[data-opcode='0'][data-fin='1'] button:has-text('Open in the composer')");
  assertEq(await attr(p, "#c-out", "data-hex"), "80 06 67 6d 65 6e 74 73", "the same bytes in the composer");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("closing from the page with 4000 \"bye\": both close frames decoded, then the end of TCP", async () => {
  const p = await livePage();
  await p.fill("#l-close-code", "4000");
  await p.fill("#l-close-reason", "bye");
  await p.click("#l-disconnect");
  await p.waitForSelector("#l-timeline .tl-row[data-kind='end']");
  const closes = rows(p, "[data-opcode='8']");
  assertEq(await closes.count(), 2, "two close frames");
  assertEq(await closes.nth(0).getAttribute("data-dir"), "in", "the browser's close first");
  assertEq(await closes.nth(0).getAttribute("data-close-code"), "4000", "its code");
  assertEq(await closes.nth(0).getAttribute("data-close-reason"), "bye", "its reason");
  assertMatch(await closes.nth(0).innerText(), /code 4000 “bye”: starts the closing handshake/, "first close row");
  assertEq(await closes.nth(1).getAttribute("data-dir"), "out", "the server's answer");
  assertEq(await closes.nth(1).getAttribute("data-close-code"), "4000", "the code echoed");
  assertMatch(await closes.nth(1).innerText(), /answers the close/, "second close row");
  assertMatch(await text(p, ".tl-end"), /TCP connection closed: the server closed it[\s\S]*First close frame from the browser/, "TCP end");
  // The browser's close decoded: masked, opcode 8, its body.
  await closes.nth(0).locator(".tl-head").click();
  const view = closes.nth(0).locator(".wire-view");
  assertEq(await view.getAttribute("data-mask"), "1", "the browser masks its close");
  assertEq(await view.getAttribute("data-opcode"), "8", "opcode");
  assertEq(await view.getAttribute("data-len"), "5", "2-byte code + \"bye\"");
  assertMatch(await closes.nth(0).innerText(), /Close body \(§5\.5\.1\)\s*code 4000 “bye”/, "the close body decoded");
  assertMatch(await text(p, "#l-status"), /sent close code 4000 “bye”; the server answered with close code 4000/, "status shows the server's reply");
  assertMatch(await text(p, "#l-timeline .tl-note"), /watcher closed: code 1000/, "the watcher ends cleanly");
  await p.locator("#live").screenshot({ path: path.join(SHOTS, "timeline-close-1280.png") });
  // Reconnect, and the server starts the close with 1001: the browser answers.
  await p.click("#l-connect");
  await p.waitForSelector("#l-status[data-state='open']");
  await p.waitForSelector(".tl-row[data-kind='handshake']");
  await p.click("#l-sc-close");
  await p.waitForSelector("#l-timeline .tl-row[data-kind='end']");
  const again = rows(p, "[data-opcode='8']");
  assertEq(await again.nth(0).getAttribute("data-dir"), "out", "the server's close first");
  assertEq(await again.nth(0).getAttribute("data-close-code"), "1001", "1001");
  assertEq(await again.nth(0).getAttribute("data-close-reason"), "going away", "its reason");
  assertEq(await again.nth(1).getAttribute("data-dir"), "in", "the browser's answer");
  assertEq(await again.nth(1).getAttribute("data-close-code"), "1001", "the browser echoes 1001");
  assertMatch(await text(p, ".tl-end"), /First close frame from the server/, "who closed first");
  assertMatch(await text(p, ".tl-scenario"), /§5\.5\.1[\s\S]*MUST send a Close frame in response/, "the RFC sentence");
  assertMatch(await text(p, "#l-status"), /server closed the connection with close code 1001 Going Away “going away”/, "status");
  // After a failed reconnect the old handshake is gone.
  await p.fill("#l-url", "ws://127.0.0.1:9/inspect");
  await p.click("#l-connect");
  await p.waitForSelector("#l-status[data-state='error']");
  assertMatch(await text(p, "#l-handshake"), /No handshake: the connection to ws:\/\/127\.0\.0\.1:9\/inspect failed/, "handshake panel");
  const others = p.errors.filter((e) => !/WebSocket connection to 'ws:\/\/127\.0\.0\.1:9\/inspect' failed|Failed to load resource: net::ERR_UNSAFE_PORT/.test(e));
  assertEq(others.join("\n"), "", "console errors besides Chromium's own report");
  await p.close();
});

await test("handshake panel: every header of the real request and response explained, the deflate offer answered", async () => {
  const p = await livePage();
  await p.waitForSelector("#l-accept-check.ok");
  assertMatch(await text(p, "#l-hs-request tr[data-header='sec-websocket-extensions']"),
    /permessage-deflate[\s\S]*The server accepted “permessage-deflate; server_no_context_takeover”/, "the deflate offer and the answer");
  assertMatch(await text(p, "#l-hs-response tr[data-header='sec-websocket-extensions']"),
    /permessage-deflate; server_no_context_takeover[\s\S]*accepts permessage-deflate/, "the server's Sec-WebSocket-Extensions answer");
  assertMatch(await text(p, "#l-hs-deflate.ok"), /Checked in wasm[\s\S]*server starts every message with an empty window[\s\S]*browser keeps its window/, "the parameters");
  assertEq(await p.evaluate(() => document.querySelector("#l-hs-noext")), null, "no 'accepted none' note");
  assertMatch(await text(p, "#l-hs-request tr[data-header='sec-websocket-key']"), /16 random bytes/, "the key");
  assertMatch(await text(p, "#l-hs-request tr[data-header='origin']"), /§10\.2/, "the origin");
  assertMatch(await text(p, "#l-hs-response tr[data-header=':start']"), /101/, "the status line");
  const unexplained = await p.evaluate(() => Array.from(document.querySelectorAll("#l-handshake table.headers tbody tr"))
    .filter((r) => r.cells.length < 2 || !r.cells[1].textContent.trim()).length);
  assertEq(unexplained, 0, "rows without an explanation");
  await p.locator("#l-handshake").screenshot({ path: path.join(SHOTS, "handshake.png") });
  // /echo sends no reports: the card says so instead of waiting.
  await p.fill("#l-url", `ws://${new URL(BASE).host}/echo`);
  await p.click("#l-connect");
  await p.waitForSelector("#l-status[data-state='open']");
  await p.fill("#l-message", "to echo");
  await p.click("#l-send");
  await p.waitForSelector(".exchange[data-n='1'][data-echoed='1']");
  assertMatch(await text(p, ".exchange[data-n='1'] .wire-in"), /no report: \/echo does not report frames/, "explained");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("composer: a fragmented message with a ping between decodes in the stepper into one message", async () => {
  const p = await newPage();
  await p.goto(BASE);
  await ready(p);
  await p.selectOption("#c-payload-kind", "text");
  await p.fill("#c-payload", "Hello, fragments");
  await p.check("input[name='c-mask'][value='typed']");
  await p.fill("#c-key", "37 fa 21 3d");
  await p.fill("#c-split", "5, 10");
  await p.check("#c-frag-ping");
  assertEq(await attr(p, "#c-seq", "data-frames"), "5", "3 fragments + 2 pings");
  const roles = await p.evaluate(() => Array.from(document.querySelectorAll("#c-seq-list li"), (l) => `${l.dataset.opcode}:${l.dataset.fin}`));
  assertEq(roles.join(" "), "1:0 9:1 0:0 9:1 0:1", "Text FIN=0, ping, continuation, ping, continuation FIN=1");
  assertMatch(await attr(p, "#c-seq", "data-hex"), /^01 85 37 fa 21 3d 7f 9f 4d 51 58 89/, "the first fragment masked, a ping after it");
  await p.locator("#composer").screenshot({ path: path.join(SHOTS, "composer-fragments.png") });
  await p.click("#c-seq-step");
  assertEq(await p.inputValue("#s-role"), "server", "decoded as the server that receives masked frames");
  await p.click("#s-all");
  assertEq(await attr(p, "#s-reassembly", "data-messages"), "1", "one message");
  assertEq(await attr(p, "#s-reassembly", "data-controls"), "2", "two control frames between");
  assertMatch(await text(p, "#s-reassembly li[data-fragments='3']"), /text "Hello, fragments", the concatenation of 3 fragments/, "reassembled");
  assertMatch(await text(p, "#s-reassembly"), /Ping "between 1 and 2": a control frame, delivered at once, between fragments/, "the ping");
  assertMatch(await text(p, "#s-log"), /→ message complete: text "Hello, fragments" \(joined from 3 fragments\)/, "the log");
  assertMatch(await text(p, "#s-log"), /→ control frame complete: ping/, "pings are control frames, not messages");
  assertEq(await p.evaluate(() => document.activeElement.id), "s-reset", "focus stays in the stepper when Run all is disabled");
  await p.locator("#stepper").screenshot({ path: path.join(SHOTS, "stepper-reassembly.png") });
  // A control frame cannot be split.
  await p.selectOption("#c-opcode", "9");
  assertMatch(await text(p, "#c-seq-error"), /MUST NOT be fragmented/, "refused");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("stepper: after an error nothing is next; between frames says so; typing and focus", async () => {
  const p = await newPage();
  await p.goto(BASE);
  await ready(p);
  // Unmasked "Hello" decoded as a server, Run all.
  await p.fill("#s-hex", "81 05 48 65 6c 6c 6f");
  await p.selectOption("#s-role", "server");
  await p.click("#s-all");
  assertEq(await p.locator("#s-bytes .byte.next").count(), 0, "no byte outlined as next after the error");
  assertMatch(await text(p, "#s-statename"), /Failed at byte 1/, "state");
  assertMatch(await text(p, "#s-known"), /broken at byte 1/, "known");
  if (/Between frames/.test(await text(p, "#s-view"))) fail("says 'between frames' after an error");
  // A whole frame: between frames, the last frame's payload.
  await p.selectOption("#s-preset", { label: "§5.7 A single-frame masked text message" });
  await p.focus("#s-frame");
  await p.keyboard.press("Enter");
  assertMatch(await text(p, "#s-statename"), /Between frames: frame 1 ended at byte 10/, "state between frames");
  assertMatch(await text(p, "#s-state"), /last frame's payload\s*5 of 5/, "labelled as the last frame's");
  assertEq(await p.evaluate(() => document.activeElement.id), "s-reset", "focus moves to Reset, not <body>");
  // The log grows; it is not rebuilt, and it is not a live region.
  await p.click("#s-reset");
  await p.click("#s-step");
  const kept = await p.evaluateHandle(() => document.querySelector("#s-log li"));
  await p.click("#s-step");
  assertEq(await kept.evaluate((n) => n.isConnected), true, "the first entry is kept");
  assertEq(await attr(p, "#s-log", "aria-live"), null, "the log is not a live region");
  assertMatch(await text(p, "#s-announce"), /byte 1/, "the latest event is announced");
  // An odd digit while typing is not an error.
  await p.fill("#s-hex", "81 8");
  assertEq(await p.locator("#stepper [role='alert']").count(), 0, "no alert");
  assertEq(await attr(p, "#s-hex", "aria-invalid"), null, "not invalid");
  assertMatch(await text(p, "#s-hex-msg"), /One more hex digit completes byte 1/, "hint");
  await p.fill("#s-hex", "81 zz");
  assertEq(await attr(p, "#s-hex", "aria-invalid"), "true", "invalid");
  assertMatch(await text(p, "#s-hex-msg"), /“z” is not a hex digit/, "error");
  // A longer length form than needed: accepted, and said to be the sender's rule.
  await p.fill("#s-hex", "81 7e 00 05 48 65 6c 6c 6f");
  await p.selectOption("#s-role", "client");
  await p.click("#s-all");
  assertMatch(await text(p, "#s-log"), /minimal number of bytes MUST be used[\s\S]*the sender's rule[\s\S]*message complete: text "Hello"/, "the note");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("broken frames: where the codec reports the error and where it became certain; RFC words only", async () => {
  const p = await newPage();
  await p.goto(BASE);
  await ready(p);
  const expect = { "reserved-opcode": [1, 0], "fragmented-ping": [1, 0], "rsv1": [1, 0], "close-1-byte": [6, 1], "unmasked": [1, 1], "invalid-utf8": [7, 7] };
  for (const [id, [at, certain]] of Object.entries(expect)) {
    await p.click(`#e-presets button[data-preset='${id}']`);
    assertEq(await attr(p, "#e-result", "data-at"), String(at), `${id}: reported at`);
    const where = await text(p, "#e-where");
    assertMatch(where, new RegExp(`at byte ${at}:`), `${id}: sentence`);
    assertMatch(where, at === certain ? new RegExp(`Byte ${at} is the first that makes the error certain`)
      : new RegExp(`certain from byte ${certain} \\(marked ◆\\)\\.`), `${id}: certain`);
    if (/_/.test(await text(p, "#e-reason"))) fail(`${id}: a literal underscore in the RFC quote`);
  }
  await p.click("#e-presets button[data-preset='reserved-opcode']");
  assertEq(await text(p, "#e-reason em"), "Fail the WebSocket Connection", "the RFC's emphasis");
  assertMatch(await text(p, "#errors .lead"), /SHOULD send a Close frame/, "§7.1.7 is a SHOULD");
  // Wording in the composer: pongs may be unsolicited, why clients mask.
  await p.selectOption("#c-opcode", "10");
  assertMatch(await text(p, "#c-fields tr[data-field='opcode']"), /unsolicited/, "§5.5.3");
  assertMatch(await text(p, "#c-fields tr[data-field='mask']"), /poison its cache \(§10\.3\)/, "§10.3");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("phone width: the timeline and a 200-character echo fit 390 px", async () => {
  const p = await livePage({ width: 390, height: 844 });
  await p.fill("#l-message", "w".repeat(200));
  await p.click("#l-send");
  await p.waitForSelector(".exchange[data-n='1'][data-echoed='1'] .wire-out .wire-view");
  await p.click("#l-sc-fragments");
  await p.waitForFunction(() => document.querySelectorAll("#l-timeline .tl-row[data-opcode='10'][data-dir='in']").length === 2);
  await p.click("#l-timeline .tl-row[data-opcode='0'][data-fin='1'] .tl-head");
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`the page is ${overflow} px wider than the phone`);
  await p.locator("#l-timeline").screenshot({ path: path.join(SHOTS, "timeline-390.png") });
  await p.screenshot({ path: path.join(SHOTS, "live-390.png"), fullPage: true, clip: { x: 0, y: await p.evaluate(() => document.querySelector("#live").offsetTop), width: 390, height: 1400 } });
  await p.locator(".exchange[data-n='1']").screenshot({ path: path.join(SHOTS, "echo-200-390.png") });
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

// ---- issue 30: what the browser really sends (permessage-deflate agreed, as Chromium always agrees it)

/** Sends a message on a live page and waits for its echo and both reported frames. */
async function sendAndWait(p, message, n) {
  await p.fill("#l-message", message);
  await p.click("#l-send");
  await p.waitForSelector(`.exchange[data-n='${n}'][data-echoed='1'] .wire-in .wire-view`);
  await p.waitForSelector(`.exchange[data-n='${n}'] .wire-out .wire-view`);
}

await test("issue 30 defect 1: with deflate agreed the prediction leaves RSV1 and the length unknown", async () => {
  const p = await livePage();
  await p.waitForSelector("#l-hs-deflate.ok");
  await sendAndWait(p, "w".repeat(200), 1);
  const pred = ".exchange[data-n='1'] .predicted";
  assertEq(await attr(p, pred, "data-rsv1"), "unknown", "RSV1 predicted as unknown");
  assertEq(await attr(p, pred, "data-length"), "unknown", "length predicted as unknown");
  assertMatch(await text(p, pred), /^[\s\S]*81 or c1 \?\?/, "first byte: 81 or c1");
  assertMatch(await text(p, pred), /RSV1 and the length are not known until the browser compresses/, "said in words");
  if (/length 200: all known/.test(await text(p, pred))) fail("still claims the length is known");
  // And the wire shows why: the browser compressed the 200 bytes.
  const inView = ".exchange[data-n='1'] .wire-in .wire-view";
  assertEq(await attr(p, inView, "data-rsv1"), "1", "RSV1 on the wire");
  if (Number(await attr(p, inView, "data-len")) >= 200) fail("the browser's frame is not shorter than the message");
  assertEq(await p.locator(".exchange[data-n='1'] .verdicts li.bad").count(), 0, "no failed verdict");
  if (/\(200 bytes\) \(200 bytes\)/.test(await text(p, ".exchange[data-n='1']"))) fail("a size printed twice");
  if (/\b0 % of its size/.test(await text(p, ".exchange[data-n='1']"))) fail("0 % of its size");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30 defects 2 and 5: the timeline's hand-offs decode the browser's compressed frames with no error", async () => {
  const p = await livePage();
  // The same text twice: the browser keeps its window, so the second message refers back to the first.
  const msg = "Hand-offs carry the connection's extensions, hand-offs carry them";
  await sendAndWait(p, msg, 1);
  await sendAndWait(p, msg, 2);
  const row = "#l-timeline .tl-row[data-kind='frame'][data-dir='in'][data-opcode='1'][data-rsv1='1']";
  await p.waitForFunction((sel) => document.querySelectorAll(sel).length >= 2, row);
  const second = p.locator(row).nth(1);
  // The back-reference makes the second frame much shorter than the first.
  const [len1, len2] = [Number(await p.locator(row).nth(0).getAttribute("data-len")), Number(await second.getAttribute("data-len"))];
  if (!(len2 < len1)) fail(`the second frame (${len2} bytes) is not shorter than the first (${len1})`);
  await second.locator(".tl-head").click();
  await second.locator("button:has-text('Step through it')").click();
  assertEq(await p.isChecked("#s-deflate"), true, "the stepper has deflate agreed");
  assertMatch(await text(p, "#s-primed"), /keeps its window[\s\S]*1 earlier message/, "the earlier message replayed");
  await p.click("#s-all");
  assertEq(await attr(p, "#s-view", "data-state"), "header", "no error: between frames at the end");
  assertEq(await p.locator("#s-error").count(), 0, "no error shown");
  assertMatch(await text(p, "#s-log"), new RegExp(`message complete: text "${msg}"`), "the message inflated");
  assertMatch(await text(p, "#s-log"), /inflate: the frame's \d+ compressed bytes \+ 00 00 ff ff appended/, "the inflate step and the tail");
  assertMatch(await text(p, "#s-log"), /payload byte 1 of \d+ \(compressed\): 0x[0-9a-f]{2} XOR key\[0\] 0x[0-9a-f]{2} = 0x/, "the key byte of each XOR");
  assertMatch(await text(p, "#s-known"), /100 \(RSV1: compressed, permessage-deflate\)/, "RSV1 said to mean compressed");
  assertEq(await attr(p, "#s-reassembly li[data-type='text']", "data-compressed"), String(len2), "inflated from the frame's compressed bytes");
  // The composer: the same frame, a receiver that agreed permessage-deflate, no contradiction.
  await second.locator("button:has-text('Open in the composer')").click();
  assertEq(await p.isChecked("#c-ext"), true, "the composer has deflate agreed");
  await p.waitForSelector("#c-verdict p.ok");
  assertEq(await p.locator("#c-verdict p.bad").count(), 0, "no failed verdict");
  assertMatch(await text(p, "#c-verdict"), new RegExp("✓ A server that agreed permessage-deflate receiving this frame accepts it: a complete text message"), "accepted");
  const rsv1 = await text(p, "#c-fields tr[data-field='rsv1']");
  assertMatch(rsv1, /Per-Message Compressed/, "RSV1 row");
  if (/MUST fail/.test(rsv1)) fail(`the RSV1 row contradicts the verdict: ${rsv1}`);
  if (/no extension is negotiated/.test(await text(p, "#c-fields"))) fail("the Fields table says no extension is negotiated");
  // A server frame hands off the same way (a fresh window: server_no_context_takeover).
  const out = p.locator("#l-timeline .tl-row[data-kind='frame'][data-dir='out'][data-rsv1='1']").last();
  await out.locator(".tl-head").click();
  await out.locator("button:has-text('Step through it')").click();
  await p.click("#s-all");
  assertEq(await p.locator("#s-error").count(), 0, "the server's compressed frame decodes");
  assertMatch(await text(p, "#s-log"), new RegExp(`message complete: text "${msg}"`), "the server's frame inflated");
  // Composer with its own compression: verdict and Fields table agree.
  await p.selectOption("#c-preset", "hello-masked");
  await p.check("#c-deflate");
  assertMatch(await text(p, "#c-verdict"), /✓ A server that agreed permessage-deflate receiving this frame accepts it/, "verdict");
  if (/MUST fail|no extension is negotiated/.test(await text(p, "#c-fields"))) fail("the Fields table contradicts the verdict");
  await p.uncheck("#c-deflate");
  await p.uncheck("#c-ext");
  await p.check("#c-rsv1");
  assertMatch(await text(p, "#c-verdict"), /✗ A server, with no extension agreed, receiving this frame fails the connection with close 1002/, "RSV1 alone fails");
  assertMatch(await text(p, "#c-fields tr[data-field='rsv1']"), /MUST fail the connection/, "and the table says so");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30 defect 3: the RSV1-on-continuation preset fails at byte 10 in the stepper, with deflate agreed", async () => {
  const p = await newPage();
  await p.goto(BASE);
  await ready(p);
  await p.click("#e-presets button[data-preset='rsv1-continuation']");
  assertEq(await attr(p, "#e-result", "data-at"), "10", "reported at byte 10");
  assertMatch(await text(p, "#e-where"), /certain from byte 9 \(marked ◆\)\. The codec reads a header's first two bytes together, so it reports an error in byte 9 at byte 10\./, "the bytes named right");
  assertMatch(await text(p, "#e-where"), /CompressedContinuation/, "the kind");
  assertEq(await p.locator("#e-result .byte.certain").count(), 1, "the certain byte marked");
  if (/_/.test(await text(p, "#e-reason"))) fail("a literal underscore in the RFC 7692 quote");
  assertEq(await text(p, "#e-reason em"), "Fail the WebSocket Connection", "RFC 7692's emphasis");
  assertMatch(await text(p, "#e-result .byte.certain"), /9 ◆/, "marked in text, not colour alone");
  await p.click("#e-result button:has-text('Step through it')");
  assertEq(await p.isChecked("#s-deflate"), true, "deflate ticked");
  await p.click("#s-all");
  assertMatch(await text(p, "#s-statename"), /Failed at byte 10/, "fails at byte 10");
  assertMatch(await text(p, "#s-log"), /byte 10 \(0x84\): CompressedContinuation/, "with CompressedContinuation");
  assertMatch(await text(p, "#s-log"), /RSV1-3=100 \(RSV1: compressed, permessage-deflate\)/, "the first fragment's RSV1 is right");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30 defect 4: composed compressed fragments: RSV1 on the first only, the stepper inflates the split stream", async () => {
  const p = await newPage();
  await p.goto(BASE);
  await ready(p);
  const msg = "Hello, compressed fragments! Hello, compressed fragments!";
  await p.selectOption("#c-payload-kind", "text");
  await p.fill("#c-payload", msg);
  await p.check("input[name='c-mask'][value='typed']");
  await p.fill("#c-key", "37 fa 21 3d");
  await p.check("#c-deflate");
  await p.fill("#c-split", "4, 8");
  await p.check("#c-frag-ping");
  const frames = await p.evaluate(() => Array.from(document.querySelectorAll("#c-seq-list li"),
    (l) => `${l.dataset.opcode}:${l.dataset.fin}:${l.dataset.rsv1}`));
  assertEq(frames.join(" "), "1:0:1 9:1:0 0:0:0 9:1:0 0:1:0", "RSV1 on the first fragment only");
  // The fragments carry the compressed stream, not the text: "Hell" would be 48 65 6c 6c.
  const hexes = await attr(p, "#c-seq", "data-hex");
  assertMatch(hexes, /^41 84 37 fa 21 3d /, "first fragment: FIN=0 RSV1=1 Text, 4 bytes");
  const compressed = await text(p, "#c-deflate-hex");
  const firstFour = compressed.split(" ").slice(0, 4).map((h, i) => (parseInt(h, 16) ^ [0x37, 0xfa, 0x21, 0x3d][i]).toString(16).padStart(2, "0")).join(" ");
  assertMatch(hexes, new RegExp(`^41 84 37 fa 21 3d ${firstFour}`), "the first 4 bytes of the compressed stream, masked");
  assertMatch(await text(p, "#c-seq-note"), /RSV1 = 1 on the first fragment only/, "said");
  assertEq(await p.isHidden("#c-whole-note"), false, "the single-frame view says it shows the unsplit frame");
  await p.click("#c-seq-step");
  assertEq(await p.isChecked("#s-deflate"), true, "the stepper has deflate agreed");
  await p.click("#s-all");
  assertEq(await p.locator("#s-error").count(), 0, "no error");
  assertEq(await attr(p, "#s-reassembly", "data-messages"), "1", "one message");
  const m = "#s-reassembly li[data-type='text']";
  assertEq(await attr(p, m, "data-fragments"), "3", "from 3 fragments");
  assertMatch(await text(p, m), new RegExp(`"${msg}", the concatenation of 3 fragments, inflated from \\d+ compressed bytes split across them`), "inflated");
  assertMatch(await text(p, "#s-log"), /inflate: the frame's 4 compressed bytes → \d+ bytes[\s\S]*DEFLATE stream goes on in the next fragment/, "first fragment inflated");
  assertMatch(await text(p, "#s-log"), /\+ 00 00 ff ff appended/, "the tail appended after the last");
  await p.locator("#stepper").screenshot({ path: path.join(SHOTS, "stepper-compressed-fragments.png") });
  // Defect 10: the §5.7 last fragment "lo" is accepted after a first fragment, not a red ✗.
  await p.selectOption("#c-preset", "lo");
  assertEq(await p.locator("#c-verdict p.bad").count(), 0, "no ✗ on an RFC example");
  assertMatch(await text(p, "#c-verdict"), /✓ A continuation frame: after a first fragment[\s\S]*accepts it and the message is complete/, "the lo verdict");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30 defect 6: the close form attributes each rule to its source; a long reason gets its own message", async () => {
  const p = await livePage();
  await p.fill("#l-close-code", "1001");
  await p.click("#l-disconnect");
  const status = await text(p, "#l-status");
  assertMatch(status, /WebSocket API's rule: a script's close\(\) may use only 1000 or 3000-4999 \(WHATWG/, "the WHATWG rule");
  assertMatch(status, /RFC 6455 §7\.4\.2 divides the codes: 1000-2999 are reserved for the protocol and its extensions/, "RFC 6455's");
  if (/1001-2999 are for endpoints/.test(status)) fail("the old misattribution");
  await p.fill("#l-close-code", "4000");
  await p.fill("#l-close-reason", "r".repeat(124));
  await p.click("#l-disconnect");
  const long = await text(p, "#l-status");
  assertMatch(long, /the reason is 124 bytes of UTF-8[\s\S]*at most 123 bytes of reason/, "the reason's own message");
  if (/3000-4999/.test(long)) fail("the code rule for a reason error");
  assertEq(await attr(p, "#l-status", "data-state"), "error", "refused");
  assertEq(await p.isDisabled("#l-disconnect"), false, "still open");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30 defect 7: the response's Upgrade row says the server confirms the switch", async () => {
  const p = await livePage();
  await p.waitForSelector("#l-hs-response tr[data-header='upgrade']");
  assertMatch(await text(p, "#l-hs-response tr[data-header='upgrade']"), /the server confirms the switch/, "response Upgrade");
  assertMatch(await text(p, "#l-hs-request tr[data-header='upgrade']"), /the client asks to switch/, "request Upgrade");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30 defect 8: a URL that is no WebSocket route shows what the server answered, not 'Is it running?'", async () => {
  const host = new URL(BASE).host;
  // Chromium's own reports: the failed handshake, and the plain GET's 404.
  const chromiumOwn = (e) => /WebSocket connection to '.*' failed|Failed to load resource: the server responded with a status of 404/.test(e);
  // Served by wisp-server: the plain GET of the same URL is same-origin, so its status and body show.
  const p = await newPage();
  await p.goto(BASE);
  await ready(p);
  await p.waitForSelector("#l-status[data-state='open']");
  await p.fill("#l-url", `ws://${host}/nothing-here`);
  await p.click("#l-connect");
  await p.waitForSelector("#l-status[data-state='error']");
  const served = await text(p, "#l-status");
  assertEq(await attr(p, "#l-status", "data-http"), "404", "the HTTP status learnt");
  assertMatch(served, new RegExp(`a server answers at ${host.replace(/\./g, "\\.")}, so it is running, but it refused the WebSocket handshake for /nothing-here`), "running, refused");
  assertMatch(served, /HTTP 404 Not Found, “not found”/, "the status and the body");
  assertMatch(served, /404 and the list of its routes/, "the routes hint");
  // The routes named are the server's own, from its GET /routes, not a list of the page's.
  const listed = (await (await fetch(new URL("/routes", BASE))).json()).routes;
  if (!listed.includes("/inspect")) fail(`GET /routes: ${listed}`);
  assertMatch(served, new RegExp(`this one has ${listed.join(", ")}, says its GET /routes`), "the server's routes");
  if (/Is wisp-server running/.test(served)) fail("asks whether the server runs");
  if (/reports no frames/.test(await text(p, "#l-timeline-title"))) fail("the timeline implies the connection worked");
  assertEq(p.errors.filter((e) => !chromiumOwn(e)).join("\n"), "", "console errors besides Chromium's own report");
  await p.close();
  // From disk, ws://HOST/ (no path): the server answers, and the page says so.
  const disk = await newPage();
  await disk.goto(pathToFileURL(path.join(ROOT, "web/index.html")).href);
  await ready(disk);
  await disk.fill("#l-url", `ws://${host}`);
  await disk.click("#l-connect");
  await disk.waitForSelector("#l-status[data-state='error']");
  const fromDisk = await text(disk, "#l-status");
  assertMatch(fromDisk, /a server answers at [\d.:]+, so it is running, but it refused the WebSocket handshake for \//, "running, refused");
  if (/Is wisp-server running/.test(fromDisk)) fail("asks whether the server runs");
  assertMatch(fromDisk, new RegExp(`this one has ${listed.join(", ")}, says its GET /routes`), "the server's routes, from file://");
  assertMatch(await text(disk, "#l-timeline-title"), /No timeline: the connection failed/, "timeline");
  assertEq(disk.errors.filter((e) => !chromiumOwn(e)).join("\n"), "", "console errors besides Chromium's own report");
  await disk.locator("#live").screenshot({ path: path.join(SHOTS, "not-a-route.png") });
  await disk.close();
});

await test("issue 30: live regions announce one line per event; no control shares its label", async () => {
  const p = await livePage();
  await p.evaluate(() => {
    window.announced = [];
    for (const r of document.querySelectorAll("[aria-live], [role='status'], [role='alert']")) {
      new MutationObserver(() => window.announced.push({ id: r.id, text: r.textContent })).observe(r, { childList: true, characterData: true, subtree: true });
    }
  });
  const events = async (what, fn, max = 1) => {
    const before = await p.evaluate(() => window.announced.length);
    await fn();
    const got = await p.evaluate((n) => window.announced.slice(n), before);
    const byRegion = {};
    for (const a of got) (byRegion[a.id] = byRegion[a.id] || new Set()).add(a.text);
    for (const [id, texts] of Object.entries(byRegion)) {
      const shown = [...texts].filter((t) => t !== "");
      if (shown.length > max) fail(`${what}: #${id} announced ${shown.length} lines: ${JSON.stringify(shown)}`);
      for (const t of shown) if (/\n/.test(t) || t.length > 600) fail(`${what}: #${id} announced more than a line: ${JSON.stringify(t)}`);
    }
  };
  await p.fill("#l-message", "announce me");
  // Two events, the message sent and its echo: two lines, however fast the echo comes.
  await events("a message sent and its echo", async () => {
    await p.click("#l-send");
    await p.waitForSelector(".exchange[data-n='1'][data-echoed='1'] .wire-out .wire-view");
  }, 2);
  const lines = await p.evaluate(() => window.announced.filter((a) => a.id === "l-announce").map((a) => a.text));
  assertEq(lines.join(" | "), "Message 1 sent: text, 11 bytes. | Message 1: the echo arrived; its frames are shown in the card.", "the live panel's lines");
  await p.selectOption("#c-payload-kind", "text");
  for (const key of ["H", "i", "!"]) await events(`typing ${key}`, () => p.press("#c-payload", key));
  await events("a broken frame", () => p.click("#e-presets button[data-preset='invalid-utf8']"));
  await events("a step", () => p.click("#s-step"));
  for (const sel of ["#l-exchanges", "#c-verdict", "#e-result", "#s-log"]) {
    assertEq(await attr(p, sel, "aria-live"), null, `${sel} is not a live region`);
  }
  assertMatch(await text(p, "#l-announce"), /^Message 1: the echo arrived/, "the live panel's line");
  assertMatch(await text(p, "#e-announce"), /^Invalid UTF-8 in a text frame: close 1007/, "the broken frame's line");
  // Unique labels.
  const names = await p.evaluate(() => Array.from(document.querySelectorAll("input, select, textarea"))
    .map((e) => (e.getAttribute("aria-label") || Array.from(e.labels || [], (l) => l.textContent).join(" ")).replace(/\s+/g, " ").trim()));
  const seen = new Set(), dup = new Set();
  for (const n of names) (seen.has(n) ? dup : seen).add(n);
  assertEq([...dup].join(", "), "", "labels used by two controls");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30 defect 11: at 390 px no element is wider than the viewport; a 200-byte message card stays under 1,500 px", async () => {
  const p = await livePage({ width: 390, height: 844 });
  await p.waitForSelector("#l-hs-deflate.ok");
  await sendAndWait(p, "w".repeat(200), 1);
  await sendAndWait(p, "a quite different message of some length, to be compressed by Chromium too", 2);
  // Expand compressed frames of both directions in the timeline.
  for (const dir of ["in", "out"]) {
    await p.locator(`#l-timeline .tl-row[data-kind='frame'][data-dir='${dir}'][data-rsv1='1'] .tl-head`).first().click();
  }
  await p.click("#e-presets button[data-preset='rsv1-continuation']");
  // The stepper with a compressed browser frame: its "Known so far" has long names.
  await p.locator("#l-timeline .tl-row[data-kind='frame'][data-dir='in'][data-rsv1='1'] button:has-text('Step through it')").first().click();
  await p.click("#s-step");
  await p.click("#s-frame");
  const narrowValues = await p.evaluate(() => Array.from(document.querySelectorAll("dd")).filter((d) => {
    const r = d.getBoundingClientRect();
    const line = parseFloat(getComputedStyle(d).lineHeight) || 20;
    return d.textContent.trim() && r.height > 1.6 * line && r.width < 80; // narrow and wrapped
  }).map((d) => `${d.previousElementSibling ? d.previousElementSibling.textContent : "?"}: ${Math.round(d.getBoundingClientRect().width)} px`));
  assertEq(narrowValues.join("; "), "", "values squeezed under 80 px and wrapped");
  await p.locator("#stepper").screenshot({ path: path.join(SHOTS, "issue30-stepper-390.png") });
  const wide = await p.evaluate(() => Array.from(document.querySelectorAll("body *")).filter((e) => {
    const r = e.getBoundingClientRect();
    return r.width > window.innerWidth + 0.5 || (r.width > 0 && r.right > window.innerWidth + 0.5 && !e.closest(".diagram, .table-wrap, pre"));
  }).map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${e.className} (${Math.round(e.getBoundingClientRect().width)} px)`));
  assertEq(wide.slice(0, 8).join("; "), "", "elements wider than the 390 px viewport");
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`the page is ${overflow} px wider than the phone`);
  await p.locator(".exchange[data-n='1']").screenshot({ path: path.join(SHOTS, "issue30-card-200-390.png") });
  await p.locator("#l-handshake").screenshot({ path: path.join(SHOTS, "issue30-handshake-390.png") });
  await p.locator("#l-timeline").screenshot({ path: path.join(SHOTS, "issue30-timeline-390.png") });
  const height = await p.evaluate(() => document.querySelector(".exchange[data-n='1']").getBoundingClientRect().height);
  if (!(height < 1500)) fail(`the 200-byte message card is ${Math.round(height)} px tall`);
  // The value column is wide enough to read: "0x1 Text" on one line.
  const opcodeLines = await p.evaluate(() => {
    const dd = document.querySelector(".exchange[data-n='1'] .wire-in dd[data-key='opcode']");
    return Math.round(dd.getBoundingClientRect().height / parseFloat(getComputedStyle(dd).lineHeight || "20"));
  });
  if (opcodeLines > 1) fail(`"0x1 Text" wraps over ${opcodeLines} lines`);
  const th = await p.evaluate(() => document.querySelector("#l-hs-request tr[data-header='connection'] th").getBoundingClientRect().width);
  if (th < 300) fail(`the handshake's header column is ${Math.round(th)} px wide`);
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
  // Desktop: the inflated text has room in the browser → server column.
  const d = await livePage();
  await d.waitForSelector("#l-hs-deflate.ok");
  await sendAndWait(d, "w".repeat(200), 1);
  const ddWidth = await d.evaluate(() => {
    const dds = Array.from(document.querySelectorAll(".exchange[data-n='1'] .wire-in dd[data-key='payload']"));
    return Math.min(...dds.map((x) => x.getBoundingClientRect().width));
  });
  if (ddWidth < 150) fail(`the inflated payload gets ${Math.round(ddWidth)} px at 1280 px`);
  await d.locator(".exchange[data-n='1']").screenshot({ path: path.join(SHOTS, "issue30-card-200-1280.png") });
  assertEq(d.errors.join("\n"), "", "console errors");
  await d.close();
});

await test("issue 30: Save as pcap: tshark decodes the same WebSocket frames, opcodes and payload lengths", async () => {
  const p = await livePage();
  await p.waitForSelector("#l-hs-deflate.ok");
  await sendAndWait(p, "Hello, Wireshark", 1);
  await sendAndWait(p, "x".repeat(300), 2);
  // Pseudo-random letters: still over 125 bytes compressed, so the 16-bit length form.
  let seed = 99;
  const noisy = Array.from({ length: 400 }, () => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return String.fromCharCode(0x21 + ((seed >>> 0) % 90));
  }).join("");
  await sendAndWait(p, noisy, 3);
  if (!(Number(await attr(p, ".exchange[data-n='3'] .wire-in .wire-view", "data-len")) > 125)) fail("no 16-bit length form");
  await p.click("#l-sc-fragments");
  await p.waitForFunction(() => document.querySelectorAll("#l-timeline .tl-row[data-opcode='10'][data-dir='in']").length === 2);
  await p.fill("#l-close-code", "4000");
  await p.click("#l-disconnect");
  await p.waitForSelector("#l-timeline .tl-row[data-kind='end']");
  const expected = await p.evaluate(() => Array.from(document.querySelectorAll("#l-timeline .tl-row[data-kind='frame']"),
    (r) => `${r.dataset.opcode}:${r.dataset.len}`));
  if (expected.length < 10) fail(`only ${expected.length} frames on the timeline`);
  const [download] = await Promise.all([p.waitForEvent("download"), p.click("#l-pcap")]);
  const file = path.join(SHOTS, "conversation.pcapng");
  await download.saveAs(file);
  const tshark = spawnSync("tshark", ["-r", file, "-Y", "websocket", "-T", "fields", "-E", "occurrence=a", "-E", "separator=;",
    "-e", "websocket.opcode", "-e", "websocket.payload_length", "-e", "websocket.payload_length_ext_16",
    "-e", "websocket.payload_length_ext_64"], { encoding: "utf8" });
  if (tshark.error) fail(`cannot run tshark (${tshark.error.message}): run scripts/setup.sh test`);
  if (tshark.status !== 0) fail(`tshark failed: ${tshark.stderr}`);
  // A packet may hold several frames: fields come comma-separated, in order; the 16- and
  // 64-bit lengths only for the frames whose 7-bit length says 126 or 127.
  const got = [];
  for (const line of tshark.stdout.trim().split("\n").filter(Boolean)) {
    const [ops, lens, ext16, ext64] = line.split(";").map((f) => (f ? f.split(",") : []));
    ops.forEach((op, i) => {
      const len = lens[i] === "126" ? ext16.shift() : lens[i] === "127" ? ext64.shift() : lens[i];
      got.push(`${op}:${len}`);
    });
  }
  assertEq(got.join(" "), expected.join(" "), "opcode:payload length of every frame, tshark against the page");
  const http = spawnSync("tshark", ["-r", file, "-Y", "http.response.code == 101", "-T", "fields", "-e", "http.upgrade"], { encoding: "utf8" });
  assertMatch(http.stdout, /websocket/i, "tshark reads the 101 handshake");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

// ---- issue 30, beyond the tools a learner has: the server-side parts

await test("issue 30: decline compression: a 70 KiB message shows the 64-bit length form, RSV1 = 0 and the browser's mask", async () => {
  const p = await livePage();
  await p.check("#l-deflate-off");
  assertMatch(await p.inputValue("#l-url"), /\/inspect\?deflate=off$/, "the switch asks /inspect to decline");
  await p.click("#l-connect");
  await p.waitForSelector("#l-status[data-state='open']");
  await p.waitForSelector(".tl-row[data-kind='handshake']");
  await p.fill("#l-message", "x".repeat(70 * 1024));
  await p.click("#l-send");
  const row = "#l-timeline .tl-row[data-kind='frame'][data-dir='in'][data-opcode='1']";
  await p.waitForSelector(row);
  assertEq(await attr(p, row, "data-rsv1"), "0", "RSV1 = 0: not compressed");
  assertEq(await attr(p, row, "data-len"), String(70 * 1024), "the payload length as typed");
  await p.click(`${row} .tl-head`);
  const view = `${row} .wire-view`;
  assertEq(await attr(p, view, "data-mask"), "1", "the browser's real mask");
  const head = await p.locator(`${view} .bytelist .hex`).evaluateAll((xs) => xs.slice(0, 10).map((x) => x.textContent).join(" "));
  // FIN + Text, MASK + 127, then 71,680 in 8 bytes: the 64-bit length form.
  assertEq(head.toLowerCase(), "81 ff 00 00 00 00 00 01 18 00", "the header bytes");
  const out = "#l-timeline .tl-row[data-kind='frame'][data-dir='out'][data-opcode='1']";
  await p.waitForSelector(out);
  assertEq(await attr(p, out, "data-rsv1"), "0", "the echo is plain too");
  // Switched back: /inspect again, compressed.
  await p.uncheck("#l-deflate-off");
  assertMatch(await p.inputValue("#l-url"), /\/inspect$/, "the switch off restores the default URL");
  await p.fill("#l-message", "Hello");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await test("issue 30: the compressed-fragments scenario: RSV1 on the first fragment only, each fragment inflated on the timeline", async () => {
  const p = await livePage();
  await p.fill("#l-frag-text", "Hello, compressed fragments!");
  await p.check("#l-frag-compress");
  await p.check("#l-frag-ping");
  await p.click("#l-sc-fragments");
  await p.waitForFunction(() => document.querySelectorAll("#l-timeline .tl-row[data-opcode='10'][data-dir='in']").length === 2);
  const frames = await frameList(p);
  const from = frames.indexOf("out:1:0");
  assertEq(frames.slice(from, from + 5).join(" "), "out:1:0 out:9:1 out:0:0 out:9:1 out:0:1", "fragments with pings between");
  const data = rows(p, "[data-dir='out']:is([data-opcode='1'], [data-opcode='0'])");
  const n = await data.count();
  const last = [await data.nth(n - 3), await data.nth(n - 2), await data.nth(n - 1)];
  assertEq((await Promise.all(last.map((r) => r.getAttribute("data-rsv1")))).join(""), "100", "RSV1 on the first fragment only");
  const texts = await Promise.all(last.map((r) => r.innerText()));
  for (const [i, piece] of ["Hello, co", "mpressed ", "fragments!"].entries()) {
    assertMatch(texts[i], new RegExp(`"${piece}"[\\s\\S]*compressed: \\d+ bytes on the wire, ${piece.length} inflated`),
      `fragment ${i + 1} inflated on its own`);
  }
  assertMatch(await text(p, ".tl-scenario"), /RFC 7692 §6.1[\s\S]*Per-Message Compressed/, "the scenario quotes RFC 7692");
  assertMatch(await text(p, "#l-received li"), /one text message of 28 bytes: "Hello, compressed fragments!"/, "the browser inflated one message");
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

// ---- TCP reads: a raw client from here writes frames in the pieces it chooses

/**
 * A raw /inspect connection from Node, opened from `origin` (so the page may watch it): the
 * socket (no delay: each write is a segment) and the connection's id from its handshake report.
 */
async function rawInspect(origin) {
  const u = new URL(BASE);
  const sock = net.connect({ host: u.hostname, port: Number(u.port) });
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let wake = null;
  sock.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    if (wake) wake();
  });
  const more = () => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no answer from /inspect")), TIMEOUT);
    wake = () => { clearTimeout(t); wake = null; resolve(); };
  });
  await new Promise((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); });
  sock.write(`GET /inspect HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nOrigin: ${origin}\r\n\r\n`);
  let end;
  while ((end = buf.indexOf("\r\n\r\n")) < 0) await more();
  assertMatch(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101 /, "the raw client's handshake");
  // The first frame: the handshake report (unmasked text, 7- or 16-bit length).
  const at = end + 4;
  while (buf.length < at + 4) await more();
  const len7 = buf[at + 1] & 0x7f;
  const [len, from] = len7 === 126 ? [buf.readUInt16BE(at + 2), at + 4] : [len7, at + 2];
  while (buf.length < from + len) await more();
  const report = JSON.parse(buf.subarray(from, from + len).toString());
  return { sock, id: report.id }; // the echoes and reports that follow are not needed
}

/** A masked client text frame (payload under 126 bytes). */
function clientFrame(b0, text) {
  const key = [0x11, 0x22, 0x33, 0x44];
  const payload = Buffer.from(text);
  return Buffer.from([b0, 0x80 | payload.length, ...key, ...payload.map((b, i) => b ^ key[i % 4])]);
}

await test("issue 30: TCP reads on the timeline: one frame split across three reads, one read carrying three frames", async () => {
  const p = await livePage();
  const { sock, id } = await rawInspect(new URL(BASE).origin);
  // Each write and a pause: one read on the server (it has read the last before the next comes).
  const write = async (bytes) => {
    sock.write(bytes);
    await new Promise((r) => setTimeout(r, 300));
  };
  const a = clientFrame(0x81, "split across 3 reads");
  await write(a.subarray(0, 4));
  await write(a.subarray(4, 15));
  await write(a.subarray(15));
  await write(Buffer.concat(["one", "two", "six"].map((t) => clientFrame(0x81, t))));
  const end = clientFrame(0x82, "end");
  const start = clientFrame(0x82, "start");
  await write(Buffer.concat([end, start.subarray(0, 5)]));
  await write(start.subarray(5));
  // The page watches that connection: its timeline is the raw client's.
  await p.evaluate((n) => Wisp.live.watch(n), id);
  await p.waitForFunction(() => document.querySelectorAll("#l-timeline .tl-row[data-kind='frame'][data-dir='in']").length === 6);
  const reads = await p.evaluate(() => Array.from(document.querySelectorAll("#l-timeline .tl-row[data-kind='read']"),
    (r) => `${r.dataset.read}:${r.dataset.size}`));
  assertEq(reads.join(" "), "1:4 2:11 3:11 4:27 5:14 6:6", "one row per read of the server, with its size");
  const spans = await p.evaluate(() => Array.from(document.querySelectorAll("#l-timeline .tl-row[data-kind='frame'][data-dir='in']"),
    (r) => r.dataset.reads));
  assertEq(spans.join(" "), "1-3 4-4 4-4 4-4 5-5 5-6", "each frame's reads");
  // The order of the rows: the reads of a frame come before it.
  const order = await p.evaluate(() => Array.from(document.querySelectorAll("#l-timeline .tl-row:is([data-kind='read'], [data-kind='frame'][data-dir='in'])"),
    (r) => (r.dataset.kind === "read" ? `r${r.dataset.read}` : "f")));
  assertEq(order.join(" "), "r1 r2 r3 f r4 f f f r5 f r6 f", "reads before their frames");
  const read = (n) => text(p, `#l-timeline .tl-row[data-kind='read'][data-read='${n}']`);
  assertMatch(await read(4), /TCP read #4: 27 bytes, carrying 3 whole frames/, "one read, three frames");
  assertMatch(await read(1), /TCP read #1: 4 bytes, carrying part of 1 frame/, "a piece of a frame");
  assertMatch(await read(5), /TCP read #5: 14 bytes, carrying 1 whole frame and part of 1 frame/, "a read that ends one frame and starts the next");
  const split = "#l-timeline .tl-row[data-kind='frame'][data-reads='1-3']";
  assertMatch(await text(p, split), /split across 3 TCP reads, #1-#3 \(reads of 4 \+ 11 \+ 11 bytes\)/, "the split frame says so");
  assertMatch(await text(p, "#l-timeline .tl-row[data-kind='frame'][data-reads='4-4']"), /from TCP read #4/, "a frame of one read");
  await p.click(`#l-timeline .tl-row[data-kind='read'][data-read='4'] .tl-head`);
  assertMatch(await text(p, "#l-timeline .tl-row[data-kind='read'][data-read='4'] .tl-detail"),
    /keeps no frame boundaries/, "the read row explains TCP");
  await p.locator("#l-timeline").screenshot({ path: path.join(SHOTS, "timeline-tcp-reads-1280.png") });
  sock.destroy();
  assertEq(p.errors.join("\n"), "", "console errors");
  await p.close();
});

await browser.close();
if (serverProcess) serverProcess.kill();
const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${path.relative(ROOT, SHOTS)}/`);
process.exit(failed.length ? 1 : 0);
