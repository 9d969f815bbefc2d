/* @ts-self-types="./index.d.ts" */
// The package entry in Node (the "node" condition of package.json's exports, for import and
// require): everything in index.js plus AMQPClient over node:net / node:tls. Browsers never
// load this file.
export * from "./index.js";
export { AMQPClient } from "./tcp-node.js";
