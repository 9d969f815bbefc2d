// Browser half of the smoke test: runs scenario.js against ../../pkg/index.js and publishes the
// outcome as window.__smoke (read by browser.mjs) and on the page.
import { smoke } from "./scenario.js";

const out = document.getElementById("result");
const print = (line) => {
  out.textContent += `${line}\n`;
  console.log(`[smoke] ${line}`);
};
const url = new URLSearchParams(location.search).get("ws") ?? "ws://127.0.0.1:15673";

try {
  // a dynamic import, so a package that fails to load (missing pkg/, bad wasm) is reported too
  const { AMQPWebSocketClient } = await import("../../pkg/index.js");
  const result = await smoke(AMQPWebSocketClient, url, print);
  print(`PASS ${JSON.stringify(result)}`);
  window.__smoke = result;
} catch (e) {
  print(`FAIL ${e?.stack ?? e}`);
  window.__smoke = { ok: false, error: String(e?.stack ?? e) };
}
document.title = window.__smoke.ok ? "smoke: pass" : "smoke: FAIL";
