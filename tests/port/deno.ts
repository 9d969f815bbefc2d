// Runs the ported program (app.ts) under Deno against the package in ../../pkg, resolved through
// deno.json's import map as "warren-amqp":
//   deno run --config tests/port/deno.json --allow-net=127.0.0.1:PORT --allow-read tests/port/deno.ts WS_URL
// Prints cargo's result line so scripts/test counts it.
import { runApp } from "./app.ts";
import { disposeAndAbort } from "./extras.ts";

const url = Deno.args[0] ?? "ws://127.0.0.1:15673";
const watchdog = setTimeout(() => {
  console.error("port app (deno): FAILED (watchdog)");
  Deno.exit(2);
}, 60_000);
Deno.unrefTimer(watchdog);
let passed = 0;
let failed = 0;
for (const [name, run] of [["app", runApp], ["extras", disposeAndAbort]] as const) {
  try {
    await run(url, (line: string) => console.log(`  ${line}`));
    console.log(`PASS  ${name}`);
    passed++;
  } catch (e) {
    console.log(`FAIL  ${name}: ${e instanceof Error ? e.stack : String(e)}`);
    failed++;
  }
}
console.log(`test result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed`);
Deno.exit(failed ? 1 : 0);
