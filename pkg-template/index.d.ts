// Types of warren-amqp, written by hand so the package root exports exactly the public API (the
// names @cloudamqp/amqp-client 4.1.1 exports at the connection level, plus warren's few extras)
// and nothing of the WebAssembly plumbing. warren.d.ts (generated) describes the raw bindings.

/** `Pick<Console, ...>`: where the client logs what amqp-client 4.1.1 logs. */
export type Logger = Pick<Console, "debug" | "info" | "warn" | "error">;

/** A value in headers or arguments, as amqp-client types it. */
export type Field = string | boolean | bigint | number | undefined | null | object;

/**
 * What warren encodes and decodes in headers and arguments (README, "value mapping"):
 * strings, booleans, numbers (integers in int32 range as I, other safe integers as l, others as
 * d), bigint (l), Date (T), bytes (x), null/undefined (V), arrays (A), plain objects (F) and
 * `{ scale, value }` decimals (D).
 */
export type FieldValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Date
  | Uint8Array
  | ArrayBuffer
  | { scale: number; value: number }
  | FieldValue[]
  | { [key: string]: FieldValue };

export type AMQPProperties = {
  /** content type of the body, e.g. application/json */
  contentType?: string;
  /** content encoding of the body, e.g. gzip */
  contentEncoding?: string;
  /** custom headers, also used for routing by headers exchanges */
  headers?: Record<string, Field>;
  /** 1 = transient, 2 = persistent */
  deliveryMode?: number;
  /** 0-255 */
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  /** message TTL in milliseconds, as a string */
  expiration?: string;
  messageId?: string;
  timestamp?: Date;
  type?: string;
  userId?: string;
  appId?: string;
  /** deprecated in AMQP 0-9-1, carried for completeness (not in amqp-client) */
  clusterId?: string;
};

/**
 * warren's trailing options argument of every call that waits on the broker: an AbortSignal
 * rejects the call with the signal's reason (an AbortError by default). A signal aborted before
 * the call sends nothing; one aborted later stops the waiting, not what was already sent.
 */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface AMQPWebSocketInit {
  /** ws:// or wss:// URL of the broker's AMQP-over-WebSocket endpoint */
  url: string;
  /** default "/" */
  vhost?: string;
  /** default "guest" */
  username?: string;
  /** default "guest" */
  password?: string;
  /** connection name shown in the management UI */
  name?: string;
  /** largest frame to negotiate; default and minimum 8192 (as amqp-client) */
  frameMax?: number;
  /** heartbeat interval in seconds; default: the broker's proposal (0 disables) */
  heartbeat?: number;
  /** highest channel id to negotiate; default: the broker's */
  channelMax?: number;
  /** default none (no logging); null disables */
  logger?: Logger | null;
  /** warren: SASL mechanism, "PLAIN" (default) or "AMQPLAIN" */
  authMechanism?: "PLAIN" | "AMQPLAIN";
  /** warren: bound on WebSocket open + AMQP handshake, in ms (default 30000) */
  connectionTimeout?: number;
  /** warren: deadline in ms of every call that waits on the broker (default 60000, 0 = none) */
  operationTimeout?: number;
  /** warren: largest message body accepted from the broker, bytes (default 128 MiB, 0 = no limit) */
  maxMessageSize?: number;
  /** warren: WebSocket subprotocols to offer (none by default) */
  protocols?: string | string[];
  /**
   * warren: read through `WebSocketStream` where the runtime has it (Chromium; Deno with
   * `--unstable-net`), so a consumer slower than the broker pushes back on it instead of filling
   * the page (the classic `WebSocket` fails the connection at 32 MiB unread). Slower for bulk
   * no-ack consumption; default false. The URL option `websocket=stream` does the same.
   */
  webSocketStream?: boolean;
}

/** warren's earlier name for {@link AMQPWebSocketInit}. */
export type AMQPWebSocketOptions = AMQPWebSocketInit;

export type QueueOk = { name: string; messageCount: number; consumerCount: number };
export type MessageCount = { messageCount: number };
export type ExchangeType = "direct" | "fanout" | "topic" | "headers" | string;
export type ExchangeParams = { passive?: boolean; durable?: boolean; autoDelete?: boolean; internal?: boolean };
export type QueueParams = { passive?: boolean; durable?: boolean; autoDelete?: boolean; exclusive?: boolean };
export type ConsumeParams = {
  /** consumer tag; the broker picks one when empty */
  tag?: string;
  /** default true: messages are acknowledged on delivery */
  noAck?: boolean;
  exclusive?: boolean;
  /** warren: do not deliver messages published on this connection */
  noLocal?: boolean;
  args?: Record<string, Field>;
};

/** An error from the broker or the connection. */
export declare class AMQPError extends Error {
  constructor(message: string, connection: AMQPWebSocketClient);
  /** The client the error was raised on. */
  connection: AMQPWebSocketClient;
  /** warren: AMQP reply code, e.g. 404 NOT_FOUND, 403 ACCESS_REFUSED, 406 PRECONDITION_FAILED. */
  readonly code?: number;
  /** warren: the broker's reply text. */
  readonly replyText?: string;
  /** warren: class and method of the AMQP call that caused the error (0 when none). */
  readonly classId?: number;
  readonly methodId?: number;
  /** warren: what ended: a channel (soft error), the connection, a confirmed publish (nack), or a timeout. */
  readonly scope?: "channel" | "connection" | "publish" | "timeout";
}

/** An AMQP 0-9-1 connection over a WebSocket. */
export declare class AMQPWebSocketClient {
  constructor(
    url: string,
    vhost?: string,
    username?: string,
    password?: string,
    name?: string,
    frameMax?: number,
    heartbeat?: number,
    logger?: Logger | null,
  );
  constructor(init: AMQPWebSocketInit);
  readonly vhost: string;
  readonly username: string;
  readonly name?: string;
  /** Open channels, index = channel id (channel 0 included); a new array on every read. */
  readonly channels: AMQPChannel[];
  readonly closed: boolean;
  /** The broker's reason while it blocks publishing. */
  readonly blocked?: string;
  get logger(): Logger | undefined;
  set logger(logger: Logger | null | undefined);
  /** Negotiated values (0 before connect). */
  readonly channelMax: number;
  readonly frameMax: number;
  readonly heartbeat: number;
  /** Called when the connection ends abnormally (and, unless a channel has its own `onerror`, when the broker closes a channel). */
  get onerror(): ((error: AMQPError) => void) | undefined;
  set onerror(f: ((error: AMQPError) => void) | null | undefined);
  get onblocked(): ((reason: string) => void) | undefined;
  set onblocked(f: ((reason: string) => void) | null | undefined);
  get onunblocked(): (() => void) | undefined;
  set onunblocked(f: (() => void) | null | undefined);
  /** Opens the WebSocket and performs the AMQP handshake; resolves to this client. */
  connect(options?: CallOptions): Promise<this>;
  /** Opens a channel (lowest free id unless given); an open id resolves to that channel. */
  channel(id?: number, options?: CallOptions): Promise<AMQPChannel>;
  close(reason?: string, code?: number, options?: CallOptions): Promise<void>;
  updateSecret(newSecret: string, reason?: string, options?: CallOptions): Promise<void>;
  /** Closes the connection if it is open (`await using client = ...`). */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * TLS options of `AMQPClient` (amqp-client 4.1.1's `AMQPTlsOptions`): PEM text or bytes. The
 * broker's certificate is always verified (against `ca` when given, else the runtime's roots).
 * `pfx` and `passphrase` work in Node only.
 */
export interface AMQPTlsOptions {
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  pfx?: string | Uint8Array;
  passphrase?: string;
}

/**
 * AMQP 0-9-1 over TCP or TLS (amqp-client 4.1.1's `AMQPClient`): Deno and Node only (the
 * package's "deno" / "node" export conditions, or `warren-amqp/tcp`); the browser entry has no
 * such export. Same channels, consumers and messages as `AMQPWebSocketClient`.
 * `authMechanism=EXTERNAL` in the URL logs in with the client certificate of `tlsOptions`.
 */
export declare class AMQPClient extends AMQPWebSocketClient {
  /** @param url `amqp://user:pass@host:5672/vhost?heartbeat=..&frameMax=..&channelMax=..&name=..` or `amqps://` */
  constructor(url: string, tlsOptions?: AMQPTlsOptions, logger?: Logger | null);
  /** warren: `AMQPWebSocketClient`'s options object, with an `amqp[s]://` URL and the TLS options. */
  constructor(options: AMQPWebSocketInit & { tlsOptions?: AMQPTlsOptions });
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly tlsOptions: AMQPTlsOptions | undefined;
}

/** amqp-client's base class; in warren the WebSocket client is the only client class. */
export type AMQPBaseClient = AMQPWebSocketClient;
export declare const AMQPBaseClient: typeof AMQPWebSocketClient;

export declare class AMQPChannel {
  private constructor();
  readonly connection: AMQPWebSocketClient;
  readonly id: number;
  /** Running consumers by consumer tag. */
  readonly consumers: Map<string, AMQPConsumer>;
  readonly closed: boolean;
  /** Called with the reason when the broker closes the channel. */
  get onerror(): ((reason: string) => void) | undefined;
  set onerror(f: ((reason: string) => void) | null | undefined);
  /** Called with each mandatory message the broker returns as unroutable. */
  get onReturn(): ((message: AMQPMessage) => void) | undefined;
  set onReturn(f: ((message: AMQPMessage) => void) | null | undefined);
  close(reason?: string, code?: number, options?: CallOptions): Promise<void>;
  prefetch(prefetchCount: number, options?: CallOptions): Promise<void>;
  basicQos(prefetchCount: number, prefetchSize?: number, global?: boolean, options?: CallOptions): Promise<void>;
  basicGet(queue: string, params?: { noAck?: boolean }, options?: CallOptions): Promise<AMQPMessage | null>;
  basicConsume(
    queue: string,
    params: ConsumeParams | undefined,
    callback: (msg: AMQPMessage) => void | Promise<void>,
    options?: CallOptions,
  ): Promise<AMQPConsumer>;
  basicConsume(queue: string, params?: ConsumeParams): Promise<AMQPGeneratorConsumer>;
  basicCancel(tag: string, options?: CallOptions): Promise<AMQPChannel>;
  basicAck(deliveryTag: number, multiple?: boolean): Promise<void>;
  basicNack(deliveryTag: number, requeue?: boolean, multiple?: boolean): Promise<void>;
  basicReject(deliveryTag: number, requeue?: boolean): Promise<void>;
  basicRecover(requeue?: boolean, options?: CallOptions): Promise<void>;
  /** Resolves to the confirm sequence number on a confirm channel (once acked), else 0. */
  basicPublish(
    exchange: string,
    routingKey: string,
    data: string | Uint8Array | ArrayBuffer | ArrayBufferView | null,
    properties?: AMQPProperties,
    mandatory?: boolean,
    immediate?: boolean,
    options?: CallOptions,
  ): Promise<number>;
  basicFlow(active?: boolean, options?: CallOptions): Promise<boolean>;
  confirmSelect(options?: CallOptions): Promise<void>;
  queueDeclare(name?: string, params?: QueueParams, args?: Record<string, Field>, options?: CallOptions): Promise<QueueOk>;
  queueDelete(name?: string, params?: { ifUnused?: boolean; ifEmpty?: boolean }, options?: CallOptions): Promise<MessageCount>;
  queueBind(queue: string, exchange: string, routingKey: string, args?: Record<string, Field>, options?: CallOptions): Promise<void>;
  queueUnbind(queue: string, exchange: string, routingKey: string, args?: Record<string, Field>, options?: CallOptions): Promise<void>;
  queuePurge(queue: string, options?: CallOptions): Promise<MessageCount>;
  exchangeDeclare(name: string, type: ExchangeType, params?: ExchangeParams, args?: Record<string, Field>, options?: CallOptions): Promise<void>;
  exchangeDelete(name: string, params?: { ifUnused?: boolean }, options?: CallOptions): Promise<void>;
  exchangeBind(destination: string, source: string, routingKey?: string, args?: Record<string, Field>, options?: CallOptions): Promise<void>;
  exchangeUnbind(destination: string, source: string, routingKey?: string, args?: Record<string, Field>, options?: CallOptions): Promise<void>;
  txSelect(options?: CallOptions): Promise<void>;
  txCommit(options?: CallOptions): Promise<void>;
  txRollback(options?: CallOptions): Promise<void>;
  /** Closes the channel if it is open (`await using ch = ...`). */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A consumer. With a callback messages are pushed to it; without, iterate `consumer.messages`
 * (or the consumer itself) with `for await`.
 */
export declare class AMQPConsumer {
  private constructor();
  readonly channel: AMQPChannel;
  readonly tag: string;
  /** Resolves when the application cancels the consumer or closes its channel/connection; rejects when the broker cancels it or the channel/connection fails, or after `timeout` ms. */
  wait(timeout?: number, options?: CallOptions): Promise<void>;
  /** Resolves to the channel (at once when the channel is closed). */
  cancel(options?: CallOptions): Promise<AMQPChannel>;
  readonly messages: AsyncGenerator<AMQPMessage, void, undefined>;
  next(): Promise<IteratorResult<AMQPMessage, void>>;
  return(): Promise<IteratorResult<AMQPMessage, void>>;
  throw(error?: unknown): Promise<IteratorResult<AMQPMessage, void>>;
  [Symbol.asyncIterator](): AsyncGenerator<AMQPMessage, void, undefined>;
  /** Cancels the consumer (`await using consumer = ...`). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** amqp-client's class for consumers without a callback; in warren the same class. */
export type AMQPGeneratorConsumer = AMQPConsumer;
export declare const AMQPGeneratorConsumer: typeof AMQPConsumer;

export declare class AMQPMessage {
  private constructor();
  readonly channel: AMQPChannel;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: AMQPProperties;
  readonly bodySize: number;
  /** The body bytes, `null` when empty. */
  readonly body: Uint8Array | null;
  /** 0 for returned messages */
  readonly deliveryTag: number;
  readonly consumerTag: string;
  readonly redelivered: boolean;
  /** messages left in the queue (basicGet only) */
  readonly messageCount?: number;
  /** set on returned messages */
  readonly replyCode?: number;
  readonly replyText?: string;
  /** acked, nacked or rejected already (a second settle is a no-op) */
  readonly isAcked: boolean;
  /** The body as UTF-8 text, `null` when empty. */
  bodyToString(): string | null;
  bodyString(): string | null;
  ack(multiple?: boolean): Promise<void>;
  nack(requeue?: boolean, multiple?: boolean): Promise<void>;
  reject(requeue?: boolean): Promise<void>;
  /** Cancels the consumer the message was delivered to; resolves to the channel. */
  cancelConsumer(options?: CallOptions): Promise<AMQPChannel>;
}

// --- session API (issue #10): the generic session classes and their types (session.d.ts) ---
export {
  AMQPSession, AMQPQueue, AMQPExchange, AMQPSubscription, AMQPGeneratorSubscription, AMQPRPCClient, AMQPRPCServer,
  builtinParsers, builtinCoders, deflateRawCoder, serializeAndEncode, decodeAndParse, decodeMessage,
} from "./session.js";
export type {
  AMQPSessionOptions, QueueOptions, ExchangeOptions, QueuePublishOptions, ExchangePublishOptions,
  QueueSubscribeParams, RPCCallOptions, RPCHandler, AMQPSessionMessage, AMQPParser, AMQPCoder, ParserMap,
  CoderMap, ParserRegistry, CoderRegistry, BuiltinParsers, BuiltinCoders, InferParserInput, InferParserOutput,
  JsonSerializable, PlainBody, ResolveBody, ResolveMessageBody, AMQPSessionLike, AMQPQueueLike, AMQPExchangeLike,
  AMQPSubscriptionLike, AMQPSessionMessageLike,
} from "./session.js";
