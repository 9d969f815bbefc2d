// Runs the ported amqp-client program under Deno and checks its outcome.
//   deno check tests/js-session/ported/run-ported.ts && deno run --allow-net=127.0.0.1 --allow-read tests/js-session/ported/run-ported.ts WS_URL
import { runApp } from "./app.ts";
import "./types.ts"; // type-checked with the program (compile-time checks only)

const url = Deno.args[0] ?? "ws://127.0.0.1:15673";
const timer = setTimeout(() => {
  console.error("ported program: FAILED (timed out after 30 s)");
  Deno.exit(2);
}, 30_000);
const { processed, quotes } = await runApp(url);
clearTimeout(timer);
const ok = JSON.stringify([...processed].sort()) === "[1,2,3]" && JSON.stringify([...quotes].sort((a, b) => a - b)) === "[10,30,70]";
console.log(`processed ${JSON.stringify(processed)}, quotes ${JSON.stringify(quotes)}`);
console.log(ok ? "ported program: ok" : "ported program: FAILED");
Deno.exit(ok ? 0 : 1);
