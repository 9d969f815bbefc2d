/* @ts-self-types="./index.d.ts" */
// The package entry in Deno (the "deno" condition of package.json's exports): everything in
// index.js plus AMQPClient over Deno.connect / Deno.connectTls. Browsers never load this file.
export * from "./index.js";
export { AMQPClient } from "./tcp-deno.js";
