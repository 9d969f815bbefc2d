// usage: deno run --allow-net --allow-read tests/interop/deno.ts WS_URL IN_QUEUE OUT_QUEUE
import * as lib from "../../pkg/index.js";
import { interop } from "./interop.js";

const [url, inQueue, outQueue] = Deno.args;
try {
  await interop(lib, url, inQueue, outQueue);
  console.log("deno interop: ok");
  Deno.exit(0);
} catch (e) {
  console.error(`deno interop: FAILED ${e instanceof Error ? e.message : e}`);
  Deno.exit(1);
}
