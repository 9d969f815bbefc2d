// Runs the program as it was before the port (check.sh writes it to target/port-amqp-client/)
// on @cloudamqp/amqp-client 4.1.1 itself, so what app.ts expects is what 4.1.1 does:
//   deno run --config tests/port/deno.amqp-client.json --allow-net=127.0.0.1:PORT --allow-read --allow-env tests/port/original.ts WS_URL
import { runApp } from "../../target/port-amqp-client/app.ts";

const url = Deno.args[0] ?? "ws://127.0.0.1:15673";
const watchdog = setTimeout(() => {
  console.error("port app on amqp-client 4.1.1: FAILED (watchdog)");
  Deno.exit(2);
}, 60_000);
Deno.unrefTimer(watchdog);
try {
  await runApp(url, (line: string) => console.log(`  ${line}`));
  console.log("PASS  app on @cloudamqp/amqp-client 4.1.1");
  console.log("test result: ok. 1 passed; 0 failed");
  Deno.exit(0);
} catch (e) {
  console.log(`FAIL  app on @cloudamqp/amqp-client 4.1.1: ${e instanceof Error ? e.stack : String(e)}`);
  console.log("test result: FAILED. 0 passed; 1 failed");
  Deno.exit(1);
}
