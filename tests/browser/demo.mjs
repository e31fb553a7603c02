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
  // Chromium itself reports the refused connection; the page adds nothing.
  const others = disk.errors.filter((e) => !/WebSocket connection to 'ws:\/\/127\.0\.0\.1:9\/inspect' failed/.test(e));
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
  const others = p.errors.filter((e) => !/WebSocket connection to 'ws:\/\/127\.0\.0\.1:9\/inspect' failed/.test(e));
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
      : new RegExp(`certain from byte ${certain}\\.`), `${id}: certain`);
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

await browser.close();
if (serverProcess) serverProcess.kill();
const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${path.relative(ROOT, SHOTS)}/`);
process.exit(failed.length ? 1 : 0);
