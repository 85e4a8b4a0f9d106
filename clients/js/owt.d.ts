// Types of owt.js, for TypeScript (and the modules `owt codegen --lang typescript` writes).

/** A progress event of the build of a call's `requirements` environment. */
export interface BuildProgress {
  /** waiting, creating, resolving, downloading, installing or importing */
  phase: string;
  detail?: string;
  /** seconds since the build began */
  elapsed: number;
  step?: number;
  total_mb?: number;
  downloaded_mb?: number;
  [field: string]: unknown;
}

/** Options of a call; see README.md. */
export interface CallOptions {
  method?: "GET" | "POST" | "HEAD";
  fnName?: string;
  fields?: Record<string, unknown>;
  headers?: HeadersInit;
  token?: string;
  /** Basic auth; credentials in the URL (`http://alice:pw@host`) are taken as this. */
  auth?: string | [string, string];
  signal?: AbortSignal;
  fetch?: typeof fetch;
  reuse?: boolean;
  sent?: Set<string>;
  /** A raw body for the adaptor to read with `request.stream()`: the call's fields go in
   * the query. A stream is sent once, with the code. */
  body?: Blob | ArrayBuffer | ArrayBufferView | string | ReadableStream<Uint8Array>;
  /** The body's type (default: a Blob's own, else application/octet-stream). */
  contentType?: string;
  /** Each progress event while the server builds the environment of `fields.requirements`
   * (default in Node: a line on a terminal's stderr). */
  onProgress?: (event: BuildProgress) => void;
}

/** A result decoded by its content type. */
export type Result = unknown;
export type Chunk = string | Uint8Array;

/**
 * An error response (`kind` is SPEC §8's `error` field, `status` the HTTP status), or the
 * client's own failure: `connection_failed` (status 0; no server answered, `cause` is
 * fetch's TypeError), `stream_failed` (the body ended early, with no `event: error` to say
 * why; `status` is the response's) or `not_event_stream` (`events()` on another content
 * type, which `payload.content_type` names). A request fetch cannot make (a bad header)
 * throws a TypeError instead.
 */
export class OwtError extends Error {
  constructor(status: number, payload: Record<string, unknown> | null);
  status: number;
  kind: "connection_failed" | "not_event_stream" | "stream_failed" | (string & {});
  payload: Record<string, unknown> | null;
  readonly traceback: string | null;
}

export function encodeText(text: string, urlSafe?: boolean): string;
export function sha256(text: string): Promise<string | null>;
export function encode(
  code: string,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
  sha?: string | null,
): Record<string, unknown>;
export function url(
  target: string | URL,
  code: string,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): string;
export function send(
  target: string | URL,
  code: string,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): Promise<Response>;
export function decode(response: Response): Promise<Result>;
export function call(
  target: string | URL,
  code: string,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): Promise<Result>;
export function stream(
  target: string | URL,
  code: string,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): AsyncGenerator<Chunk>;
/** Server-sent events' data; an answer of another content type throws OwtError
 * `not_event_stream`. */
export function events(
  target: string | URL,
  code: string,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): AsyncGenerator<unknown>;
/** An endpoint's arguments for a query or form: [the plain parameters as [name, text] pairs
 * (an array of two or more plain values: one pair per item), the arguments that travel as
 * JSON in `kwargs_b64`]. */
export function queryArguments(
  kwargs?: Record<string, unknown>,
): [Array<[string, string]>, Record<string, unknown>];
/** Arguments → [the JSON-able ones, the binary ones (sent as multipart file parts)]. */
export function splitFiles(
  kwargs?: Record<string, unknown>,
): [Record<string, unknown>, Record<string, Blob | ArrayBuffer | ArrayBufferView>];
/** A binary argument (Uint8Array, ArrayBuffer, Blob) makes the call a multipart POST. */
export function sendEndpoint(
  target: string | URL,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): Promise<Response>;
export function endpoint(
  target: string | URL,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): Promise<Result>;
export function endpointStream(
  target: string | URL,
  kwargs?: Record<string, unknown>,
  options?: CallOptions,
): AsyncGenerator<Chunk>;
/** Server-sent event text → each event's data; see owt.js. */
export class EventParser {
  constructor(status?: number);
  /** The `[DONE]` event or an `event: error` came. */
  done: boolean;
  /** The HTTP status the `failure` carries. */
  status: number;
  /** The error an `event: error` carried. */
  failure: OwtError | null;
  /** Throw `failure`, if one came. */
  check(): void;
  feed(text: string): unknown[];
  end(): unknown[];
}
export function forget(target?: string | URL | null): void;
