// Wisp demo page: loads the codec, then starts every panel (common.js has the loader).
"use strict";

(async () => {
  const { $, setStatus } = Wisp;
  const status = $("#wasm-status");
  try {
    const { api, how } = await Wisp.loadCodec();
    Wisp.codec = api;
    setStatus(status, "ready", `Codec loaded: wisp-codec compiled to WebAssembly, from ${how}.`);
  } catch (e) {
    setStatus(status, "error", `The codec did not load (${e.message}). Build it with scripts/build-web.sh, then reload.`);
    document.body.classList.add("no-codec");
    return;
  }
  for (const panel of [Wisp.composer, Wisp.stepper, Wisp.errors, Wisp.timeline, Wisp.live]) panel.init();
  document.body.dataset.ready = "1";
})();
