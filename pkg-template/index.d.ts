// Types of warren-amqp: everything warren.js exports except its init function (index.js has
// already instantiated the WebAssembly module when an import of this package resolves).
export * from "./warren.js";

/** An error from the broker or the connection; `code` is the AMQP reply code when there is one. */
export declare class AMQPError extends Error {
  constructor(message: string, code?: number);
  /** AMQP reply code, e.g. 404 NOT_FOUND, 403 ACCESS_REFUSED, 406 PRECONDITION_FAILED. */
  readonly code?: number;
  readonly replyText?: string;
  /** Class and method of the AMQP call that caused the error (0 when none). */
  readonly classId?: number;
  readonly methodId?: number;
  /** What ended: a channel (soft error), the connection, a confirmed publish (nack), or a timeout. */
  readonly scope?: "channel" | "connection" | "publish" | "timeout";
}

// --- session API (issue #10): the generic session classes shadow warren.js's plain ones ---
export {
  AMQPSession, AMQPQueue, AMQPExchange, AMQPSubscription, AMQPGeneratorSubscription, AMQPRPCClient, AMQPRPCServer,
  builtinParsers, builtinCoders, deflateRawCoder, serializeAndEncode, decodeAndParse, decodeMessage,
} from "./session.js";
export type {
  AMQPSessionOptions, QueueOptions, ExchangeOptions, QueuePublishOptions, ExchangePublishOptions, QueueSubscribeParams,
  RPCCallOptions,
} from "./session.js";
export type * from "./session.js";
