// Deno half of the smoke test: runs scenario.js against ../../pkg/index.js (loaded from disk).
//   scripts/node_modules/.bin/deno run --allow-net tests/smoke/deno.ts [WS_URL]   (no file access:
//   the package carries its wasm inline)
import { AMQPWebSocketClient } from "../../pkg/index.js";
import { smoke } from "./scenario.js";

const url = Deno.args[0] ?? "ws://127.0.0.1:15673";
const watchdog = setTimeout(() => {
  console.error("deno smoke: FAILED (watchdog: no verdict after 90 s)");
  Deno.exit(2);
}, 90_000);
Deno.unrefTimer(watchdog);

try {
  const result = await smoke(AMQPWebSocketClient, url, (line) => console.log(`  ${line}`));
  console.log(`deno smoke: ok ${JSON.stringify(result)}`);
  Deno.exit(0);
} catch (e) {
  console.error(`deno smoke: FAILED ${e instanceof Error ? e.stack : e}`);
  Deno.exit(1);
}
