// Type-level checks of the package root's surface (compiled by tsc, never run): every name a
// 4.1.1 program imports at this level exists, nothing of the wasm plumbing does, and onerror
// handlers receive an AMQPError.
import {
  AMQPBaseClient,
  AMQPChannel,
  AMQPConsumer,
  AMQPError,
  AMQPGeneratorConsumer,
  AMQPMessage,
  AMQPWebSocketClient,
} from "warren-amqp";
import type {
  AMQPProperties,
  AMQPWebSocketInit,
  ConsumeParams,
  ExchangeParams,
  Field,
  Logger,
  MessageCount,
  QueueOk,
  QueueParams,
} from "warren-amqp";
// @ts-expect-error: the wasm init function is not part of the package root
import { initSync } from "warren-amqp";
import * as root from "warren-amqp";
// @ts-expect-error: nor the wasm exports type
import type { InitOutput } from "warren-amqp";

export type Names = [
  AMQPBaseClient, AMQPChannel, AMQPConsumer, AMQPError, AMQPGeneratorConsumer, AMQPMessage,
  AMQPWebSocketClient, AMQPProperties, AMQPWebSocketInit, ConsumeParams, ExchangeParams, Field,
  Logger, MessageCount, QueueOk, QueueParams, typeof initSync, InitOutput,
];
// @ts-expect-error: nor is the default export (wasm-bindgen's init)
export const init = root.default;

declare const client: AMQPWebSocketClient;
client.onerror = (e) => {
  const err: AMQPError = e; // the handler's parameter is an AMQPError
  const code: number | undefined = err.code;
  void code;
};
/** `any` would accept this; the real types do not. */
// @ts-expect-error: channel() resolves to an AMQPChannel, not a string
export const wrong: Promise<string> = client.channel();
