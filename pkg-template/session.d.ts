// Types of warren-amqp's session API (AMQPSession and the handles it makes), generic over the
// parser and coder registries as in @cloudamqp/amqp-client 4.x. The classes are the ones the
// wasm module exports (warren.js, declared in index.d.ts); these declarations give them their generic typing.
import type {
  AMQPChannel,
  AMQPMessage,
  AMQPProperties,
  AMQPTlsOptions,
  ConsumeParams,
  ExchangeParams,
  ExchangeType,
  FieldValue,
  Logger,
  MessageCount,
  QueueParams,
} from "./index.js";

// ----- codecs ---------------------------------------------------------------------------------

/** Handles serialization/deserialization based on content-type. */
export interface AMQPParser<In = unknown, Out = unknown> {
  serialize(body: In, properties: AMQPProperties): Uint8Array;
  parse(body: Uint8Array, properties: AMQPProperties): Out;
}
/** Handles compression/decompression based on content-encoding. */
export interface AMQPCoder {
  encode(body: Uint8Array, properties: AMQPProperties): Promise<Uint8Array>;
  decode(body: Uint8Array, properties: AMQPProperties): Promise<Uint8Array>;
}
export type ParserMap = { [K: string]: AMQPParser<never, unknown> };
export type CoderMap = { [K: string]: AMQPCoder };
export type ParserRegistry<T extends ParserMap> = { readonly [K in keyof T & string]: T[K] };
export type CoderRegistry<T extends CoderMap> = { readonly [K in keyof T & string]: T[K] };
export type JsonSerializable = string | number | boolean | null | JsonSerializable[] | { [key: string]: JsonSerializable };
export type BuiltinParsers = {
  "text/plain": AMQPParser<string, string>;
  "application/json": AMQPParser<JsonSerializable, unknown>;
};
export type BuiltinCoders = { gzip: AMQPCoder; deflate: AMQPCoder };
export type InferParserInput<P> = P extends AMQPParser<infer TInput, unknown> ? TInput : never;
export type InferParserOutput<P> = P extends AMQPParser<never, infer Out> ? Out : never;

export declare const builtinParsers: ParserRegistry<BuiltinParsers>;
export declare const builtinCoders: CoderRegistry<BuiltinCoders>;
/** Raw DEFLATE (RFC 1951); not registered by default. */
export declare const deflateRawCoder: AMQPCoder;
export declare function serializeAndEncode(
  parsers: ParserMap,
  coders: CoderMap,
  body: unknown,
  properties: AMQPProperties,
  defaults?: { contentType?: string; contentEncoding?: string },
): Promise<{ body: Uint8Array; properties: AMQPProperties }> | { body: Uint8Array; properties: AMQPProperties };
export declare function decodeAndParse(parsers: ParserMap, coders: CoderMap, body: Uint8Array, properties: AMQPProperties): Promise<unknown> | unknown;
export declare function decodeMessage(msg: AMQPMessage, parsers: ParserMap, coders: CoderMap): Promise<void>;

/** Bodies accepted without a parser. */
export type PlainBody = string | Uint8Array | ArrayBuffer | ArrayBufferView | null;
/** The publish body for content-type key `O` (explicit, else the session default). */
export type ResolveBody<P extends ParserMap, O extends keyof P & string> = [O] extends [never] ? PlainBody : InferParserInput<P[O]>;
/** A consumed body: any parser's output, or bytes for content types without a parser. */
export type ResolveMessageBody<P extends ParserMap> = keyof P extends never
  ? Uint8Array | null
  : InferParserOutput<P[keyof P & string]> | Uint8Array | null;
/** A message from a session handle: `body` is decoded when the session has codecs. */
export type AMQPSessionMessage<P extends ParserMap = {}> = Omit<AMQPMessage, "body"> & { body: ResolveMessageBody<P> };

// ----- options --------------------------------------------------------------------------------

export type QueueOptions = QueueParams & { arguments?: Record<string, FieldValue> };
export type ExchangeOptions = ExchangeParams & { arguments?: Record<string, FieldValue> };

export interface AMQPSessionOptions<
  P extends ParserMap = {},
  C extends CoderMap = {},
  KP extends keyof P & string = never,
  KC extends keyof C & string = never,
> {
  /** TLS for `amqps://` URLs in Deno and Node (as `AMQPClient`'s). */
  tlsOptions?: AMQPTlsOptions;
  /** Initial delay before reconnecting, ms (default 1000). */
  reconnectInterval?: number;
  /** Largest delay between attempts, ms (default 30000). */
  maxReconnectInterval?: number;
  /** Backoff multiplier (default 2). */
  backoffMultiplier?: number;
  /** Attempts before giving up; 0 = never (default). */
  maxRetries?: number;
  /** Where the session logs; `null` silences it. Default: warnings (a message that cannot be
   *  decoded, a callback that threw) go to the console. */
  logger?: Logger | null;
  parsers?: ParserRegistry<P>;
  coders?: CoderRegistry<C>;
  defaultContentType?: KP;
  defaultContentEncoding?: KC;
  /** AMQP vhost (for WebSocket URLs the path is the relay's, not the vhost; default "/"). */
  vhost?: string;
  name?: string;
  heartbeat?: number;
  frameMax?: number;
  channelMax?: number;
  /** warren: `ws[s]://` connections read through `WebSocketStream` where the runtime has it, so a
   *  slow consumer pushes back on the broker (as `AMQPWebSocketInit.webSocketStream`). */
  webSocketStream?: boolean;
  /** Awaited before every connection attempt; a throw fails that attempt (the backoff retries). */
  beforeConnect?: () => void | Promise<void>;
  /** After the first connect and every recovery. */
  onconnect?(session: AMQPSession<P, C, KP, KC>): void;
  ondisconnect?: (error?: Error) => void;
  onfailed?: (error?: Error) => void;
  /** A recorded queue, exchange, binding or subscription could not be restored: the queue's
   *  name (or, for an exchange, the object), the error, and (warren) what the object was. */
  onrecoverfailed?: (queueName: string, error: Error, object: string) => void;
  onblocked?: (reason: string) => void;
  onunblocked?: () => void;
  onreturn?: (msg: AMQPSessionMessage<P>) => void;
  // warren extras
  /** The platform reported the network back (the session retries at once) / gone. */
  ononline?: () => void;
  onoffline?: () => void;
  /** Listen to online/offline/visibilitychange on the global scope (default true). */
  pageLifecycle?: boolean;
  /** Bounds on publishes waiting for a connection or their confirm (default 10000 / 16 MiB). */
  outboxMaxMessages?: number;
  outboxMaxBytes?: number;
  /** Bound on one publish or declaration across reconnects, ms (default 30000). */
  operationTimeout?: number;
  /** Bound on one connection attempt, ms (default: the URL's). */
  connectionTimeout?: number;
  /** Aborts connect(). */
  signal?: AbortSignal;
  /** Let the first connect retry like a reconnect (default false: like amqp-client, it tries
   *  each URL once and rejects). */
  retryFirstConnect?: boolean;
}

type WithSignal = { signal?: AbortSignal };
export type QueuePublishOptions<O extends string = string> = Omit<AMQPProperties, "contentType"> & WithSignal & {
  /** Wait for the broker's confirm (default true). */
  confirm?: boolean;
  mandatory?: boolean;
  contentType?: O;
};
export type ExchangePublishOptions<O extends string = string> = QueuePublishOptions<O> & { routingKey?: string };
export type QueueSubscribeParams = ConsumeParams & {
  prefetch?: number;
  /** Requeue a message whose callback threw (default true). */
  requeueOnNack?: boolean;
  /** Settle messages yourself. */
  manualAck?: boolean;
};
export type RPCCallOptions = AMQPProperties & WithSignal & { timeout?: number };
export type RPCHandler<P extends ParserMap = {}, KP extends keyof P & string = never> = (
  msg: AMQPSessionMessage<P>,
) => ResolveBody<P, KP> | Promise<ResolveBody<P, KP>>;

// ----- classes --------------------------------------------------------------------------------

export declare class AMQPSession<
  P extends ParserMap = {},
  C extends CoderMap = {},
  KP extends keyof P & string = never,
  KC extends keyof C & string = never,
> {
  private constructor();
  /** Connects; `url` may list several URLs for failover. */
  static connect<
    P extends ParserMap = {},
    C extends CoderMap = {},
    KP extends keyof P & string = never,
    KC extends keyof C & string = never,
  >(url: string | string[], options?: AMQPSessionOptions<P, C, KP, KC>): Promise<AMQPSession<P, C, KP, KC>>;
  readonly closed: boolean;
  /** warren: publishes waiting in the outbox or for their confirm. */
  readonly pendingPublishes: number;
  /** warren: end a backoff wait now. */
  retryNow(): boolean;
  queue(name: string, options?: QueueOptions): Promise<AMQPQueue<P, C, KP, KC>>;
  exchange(name: string, type: ExchangeType, options?: ExchangeOptions): Promise<AMQPExchange<P, C, KP, KC>>;
  directExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchange<P, C, KP, KC>>;
  fanoutExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchange<P, C, KP, KC>>;
  topicExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchange<P, C, KP, KC>>;
  headersExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchange<P, C, KP, KC>>;
  rpcCall(queue: string, body: ResolveBody<P, KP>, options?: RPCCallOptions): Promise<AMQPSessionMessage<P>>;
  rpcClient(): Promise<AMQPRPCClient<P, C, KP, KC>>;
  rpcServer(queue: string, handler: RPCHandler<P, KP>, prefetch?: number): Promise<AMQPRPCServer<P, C, KP, KC>>;
  stop(reason?: string): Promise<void>;
}

export declare class AMQPQueue<
  P extends ParserMap = {},
  C extends CoderMap = {},
  KP extends keyof P & string = never,
  KC extends keyof C & string = never,
> {
  private constructor();
  readonly name: string;
  publish<O extends keyof P & string = KP>(body: ResolveBody<P, O>, options?: QueuePublishOptions<O>): Promise<AMQPQueue<P, C, KP, KC>>;
  subscribe(callback: (msg: AMQPSessionMessage<P>) => void | Promise<void>): Promise<AMQPSubscription>;
  subscribe(params: QueueSubscribeParams, callback: (msg: AMQPSessionMessage<P>) => void | Promise<void>): Promise<AMQPSubscription>;
  subscribe(params?: QueueSubscribeParams): Promise<AMQPGeneratorSubscription<P>>;
  get(params?: { noAck?: boolean }): Promise<AMQPSessionMessage<P> | null>;
  consumeOne(options?: { timeout?: number; signal?: AbortSignal }): Promise<AMQPSessionMessage<P>>;
  bind(exchange: string | AMQPExchange<P, C, KP, KC>, routingKey?: string, args?: Record<string, FieldValue>): Promise<AMQPQueue<P, C, KP, KC>>;
  unbind(exchange: string | AMQPExchange<P, C, KP, KC>, routingKey?: string, args?: Record<string, FieldValue>): Promise<AMQPQueue<P, C, KP, KC>>;
  purge(): Promise<MessageCount>;
  delete(params?: { ifUnused?: boolean; ifEmpty?: boolean }): Promise<MessageCount>;
}

export declare class AMQPExchange<
  P extends ParserMap = {},
  C extends CoderMap = {},
  KP extends keyof P & string = never,
  KC extends keyof C & string = never,
> {
  private constructor();
  readonly name: string;
  publish<O extends keyof P & string = KP>(body: ResolveBody<P, O>, options?: ExchangePublishOptions<O>): Promise<AMQPExchange<P, C, KP, KC>>;
  bind(source: string | AMQPExchange<P, C, KP, KC>, routingKey?: string, args?: Record<string, FieldValue>): Promise<AMQPExchange<P, C, KP, KC>>;
  unbind(source: string | AMQPExchange<P, C, KP, KC>, routingKey?: string, args?: Record<string, FieldValue>): Promise<AMQPExchange<P, C, KP, KC>>;
  delete(params?: { ifUnused?: boolean }): Promise<void>;
}

export declare class AMQPSubscription {
  protected constructor();
  /** The consumer tag on the current connection. */
  readonly consumerTag: string;
  /** The channel it consumes on now. */
  readonly channel: AMQPChannel | undefined;
  cancel(): Promise<void>;
}

export declare class AMQPGeneratorSubscription<P extends ParserMap = {}> extends AMQPSubscription implements AsyncIterable<AMQPSessionMessage<P>> {
  next(): Promise<IteratorResult<AMQPSessionMessage<P>, undefined>>;
  return(): Promise<IteratorResult<AMQPSessionMessage<P>, undefined>>;
  [Symbol.asyncIterator](): AsyncIterator<AMQPSessionMessage<P>, undefined>;
}

export declare class AMQPRPCClient<
  P extends ParserMap = {},
  C extends CoderMap = {},
  KP extends keyof P & string = never,
  KC extends keyof C & string = never,
> {
  private constructor();
  call(queue: string, body: ResolveBody<P, KP>, options?: RPCCallOptions): Promise<AMQPSessionMessage<P>>;
  close(): Promise<void>;
}

export declare class AMQPRPCServer<
  P extends ParserMap = {},
  C extends CoderMap = {},
  KP extends keyof P & string = never,
  KC extends keyof C & string = never,
> {
  private constructor();
  readonly queue: string;
  close(): Promise<void>;
}

// ----- mocking --------------------------------------------------------------------------------

/** What the `...Like` interfaces hand out: any session message, whatever its codecs. */
export type AMQPSessionMessageLike = Omit<AMQPMessage, "body"> & { body: unknown };
export interface AMQPSubscriptionLike {
  cancel(): Promise<void>;
}
export interface AMQPQueueLike {
  readonly name: string;
  publish(body: unknown, options?: QueuePublishOptions): Promise<unknown>;
  subscribe(params: QueueSubscribeParams, callback: (msg: AMQPSessionMessageLike) => void | Promise<void>): Promise<AMQPSubscriptionLike>;
  bind(exchange: string, routingKey?: string, args?: Record<string, FieldValue>): Promise<unknown>;
  get(params?: { noAck?: boolean }): Promise<AMQPSessionMessageLike | null>;
  consumeOne(options?: { timeout?: number }): Promise<AMQPSessionMessageLike>;
}
export interface AMQPExchangeLike {
  publish(body: unknown, options?: ExchangePublishOptions): Promise<unknown>;
}
export interface AMQPSessionLike {
  readonly closed: boolean;
  queue(name: string, options?: QueueOptions): Promise<AMQPQueueLike>;
  exchange(name: string, type: ExchangeType, options?: ExchangeOptions): Promise<AMQPExchangeLike>;
  directExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchangeLike>;
  fanoutExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchangeLike>;
  topicExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchangeLike>;
  headersExchange(name?: string, options?: ExchangeOptions): Promise<AMQPExchangeLike>;
  stop(reason?: string): Promise<void>;
}
