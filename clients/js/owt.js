// owt.js — call owt adaptors from browsers and Node >= 18. An ES module without dependencies.
//
//   import { call, stream, events, url } from "./owt.js";
//   await call("http://127.0.0.1:9876", "def run(name): return f'Hello, {name}!'", { name: "owt" });
//   for await (const chunk of stream(server, code, { text: "Hi." })) console.log(chunk);
//   new EventSource(url(server, sseCode, { n: 3 }));
//
// Results come back by their content type: JSON decoded, NDJSON as an array, text as a
// string, an empty untyped body as null, anything else as a Uint8Array. Error responses
// throw OwtError (status, kind, message, payload). Code sent once to a server goes by its
// sha256 afterwards (when crypto.subtle exists: Node, https pages, localhost), and in full
// again if the server answers unknown_code.

/**
 * An error response from the server: `kind` is SPEC §8's `error` field. The client's own
 * failures have their own kinds: `connection_failed` (status 0: no server answered),
 * `stream_failed` (the body ended early with no `event: error` to say why; the response's
 * status) and `not_event_stream` (`events()` of another content type).
 */
export class OwtError extends Error {
  constructor(status, payload) {
    const kind = (payload && payload.error) || "http_error";
    const message = (payload && payload.message) || `HTTP ${status}`;
    super(status ? `${kind} (${status}): ${message}` : `${kind}: ${message}`);
    this.name = "OwtError";
    this.status = status;
    this.kind = kind;
    this.payload = payload;
  }

  /** The adaptor's traceback, when the server sent one. */
  get traceback() {
    return this.payload && typeof this.payload.traceback === "string"
      ? this.payload.traceback
      : null;
  }
}

const encoder = new TextEncoder();

// fetch rejects with a bare TypeError both when no server answers ("fetch failed", which
// says neither where nor why) and when the request itself is wrong (a bad header, a URL with
// credentials). Every request goes through here: what fetch would refuse to even build is the
// caller's TypeError, said as such; what fails after that is the network, an OwtError of kind
// connection_failed naming the server (as the Python client's ConnectionFailed does). The
// caller's own abort (AbortError, TimeoutError) stays what it is.
async function fetched(fetchFn, address, init) {
  address = withoutCredentials(address, init.headers);
  try {
    // What fetch checks before it connects: the URL, the method, the headers. (Not the body,
    // which would be copied, nor the signal, which a Request follows: one may serve many calls.)
    new Request(address, { method: init.method, headers: init.headers });
  } catch (cause) {
    if (!(cause instanceof TypeError)) throw cause;
    throw new TypeError(`this request cannot be sent: ${redacted(cause.message)}`);
  }
  try {
    return await fetchFn(address, init);
  } catch (cause) {
    if (!(cause instanceof TypeError)) throw cause;
    const reason = redacted(cause.cause && cause.cause.message ? cause.cause.message : cause.message);
    const error = new OwtError(0, {
      error: "connection_failed",
      message: `cannot reach ${new URL(address).origin}: ${reason} (is \`owt serve\` running there?)`,
    });
    error.cause = cause;
    throw error;
  }
}

// fetch refuses a URL with credentials (http://alice:pw@host). As curl and httpx do, they are
// the call's Basic auth unless the options set an Authorization of their own (`auth`,
// `token`, `headers`), and they never travel in the URL.
function withoutCredentials(address, headers) {
  const parsed = new URL(address);
  if (!parsed.username && !parsed.password) return address;
  const [user, password] = [parsed.username, parsed.password].map(percentDecoded);
  if (!headers.has("authorization")) headers.set("authorization", basicAuth(user, password));
  parsed.username = "";
  parsed.password = "";
  return parsed.toString();
}

function percentDecoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray % is itself
  }
}

function basicAuth(user, password) {
  return `Basic ${encodeText(`${user}:${password || ""}`)}`;
}

/** `text` with the credentials of any URL in it left out (`http://***@host`). Up to the last
 * "@" of the URL: a password may hold "@" or "/" that its writer did not percent-encode. */
function redacted(text) {
  return String(text).replace(/(\/\/)[^\s"'`]*@/g, "$1***@");
}

// Server origin → the sha256 of each code this page/process has sent there.
const sentCodes = new Map();

function base64(bytes, urlSafe = false) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  const text = btoa(binary);
  return urlSafe ? text.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : text;
}

/** Base64 of the UTF-8 bytes of `text` (URL-safe without padding when `urlSafe`). */
export function encodeText(text, urlSafe = false) {
  return base64(encoder.encode(text), urlSafe);
}

// An editor's UTF-8 byte order mark is not code: the server drops it (as Python does) and
// hashes what is left, so the client must hash the same text. Empty code is refused here:
// the server could only answer that no code came.
function sourceText(code) {
  const text = String(code);
  if (!text.trim()) throw new TypeError("the code is empty: there is no code to send");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The hex sha256 of `text`'s UTF-8 bytes, or null where `crypto.subtle` is missing. */
export async function sha256(text) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function resolve(target) {
  const base = globalThis.location ? globalThis.location.href : undefined;
  try {
    return new URL(target, base);
  } catch {
    // Not the URL's own error: some engines quote the whole URL, credentials and all.
    throw new TypeError(
      `${JSON.stringify(redacted(target))} is not a URL: give the server's address, such as ` +
        '"http://127.0.0.1:9876" (or a path below it)',
    );
  }
}

function callFields(options) {
  // A field given as null or undefined is a field left out (in a query, "null" would be text).
  const fields = Object.fromEntries(Object.entries(options.fields || {}).filter(([, v]) => v != null));
  if (options.fnName && options.fnName !== "run") fields.fn_name = options.fnName;
  return fields;
}

/**
 * The POST JSON body of a call: `{code_b64, kwargs, fn_name?, ...options.fields}`; with
 * `sha` set, the code's hash instead of the code.
 */
export function encode(code, kwargs = {}, options = {}, sha = null) {
  const body = sha ? { code_sha256: sha } : { code_b64: encodeText(code) };
  Object.assign(body, callFields(options));
  if (kwargs && Object.keys(kwargs).length) body.kwargs = kwargs;
  return body;
}

function queryValue(value) {
  return typeof value === "string" ? value : jsonText(value);
}

// JSON has no NaN or Infinity (JSON.stringify writes null in their place) and the server's
// float parameters take finite numbers only; binary values inside JSON would become objects of
// their bytes. Both are refused before sending, naming the argument.
function strict(key, item) {
  if (typeof item === "number" && !Number.isFinite(item)) throw new Unsendable("nan");
  if (isBinary(item)) throw new Unsendable("binary");
  if (typeof item === "bigint") {
    // JSON.stringify throws on a BigInt: a safe one is a number; a larger one needs raw JSON.
    if (Number.isSafeInteger(Number(item))) return Number(item);
    if (JSON.rawJSON) return JSON.rawJSON(String(item));
    throw new Unsendable("bigint");
  }
  return item;
}

class Unsendable extends Error {}

/** `value` as strict JSON text; throws a TypeError naming an argument JSON cannot carry. */
function jsonText(value) {
  try {
    return JSON.stringify(value, strict);
  } catch (error) {
    if (!(error instanceof Unsendable)) throw error;
    let args = value && typeof value === "object" ? value : {};
    if (args.kwargs && typeof args.kwargs === "object") args = args.kwargs; // a call's body
    let where = "";
    for (const [name, item] of Object.entries(args)) {
      try {
        JSON.stringify(item, strict);
      } catch {
        where = ` (argument ${JSON.stringify(name)})`;
        break;
      }
    }
    throw new TypeError(
      error.message === "nan"
        ? `NaN and Infinity cannot be sent${where}: arguments travel as JSON, which has no such ` +
            "numbers, and the server's float parameters take finite numbers only; send null, or " +
            "a string the function reads itself"
        : error.message === "bigint"
        ? `a BigInt past 2**53 cannot be written as JSON by this JavaScript${where} (it has no ` +
            "JSON.rawJSON): send it as a string, or as a plain argument of an endpoint's GET"
        : `a binary value cannot be sent inside JSON${where}: a Uint8Array, ArrayBuffer or Blob ` +
            "travels as a multipart file part, as an argument of its own (not inside a list or " +
            "object, nor beside options.body)",
    );
  }
}

// Number text as the server reads it (owt.core.scalars.NUMBER_TEXT): no NaN or Infinity, an
// exponent of two digits (three below 0).
const NUMBER_TEXT = /^[+-]?(\d{1,200}(\.\d*)?|\.\d+)([eE](-\d{1,3}|\+?\d{1,2}))?$/;

function queryText(value) {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "bigint") return String(value);
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  const text = String(value); // 1e21 and up are "1e+21": no integer text
  return (Number.isInteger(value) ? /^-?\d+$/ : NUMBER_TEXT).test(text) ? text : null;
}

/**
 * An endpoint's arguments for a query string or multipart form → [the plain parameters as
 * [name, text] pairs, the other arguments]. A typed endpoint reads a plain parameter's text by
 * the function's hint, so only what text carries faithfully goes plain: strings, numbers the
 * server's number text reads, booleans, bigints, and arrays of two or more of these (one
 * parameter per item). The rest (null, an empty array or one of one item, 1e300, objects,
 * nested arrays) travels as JSON in `kwargs_b64`, which the server reads beside them.
 */
export function queryArguments(kwargs) {
  const params = [];
  const rest = {};
  for (const [name, value] of Object.entries(kwargs || {})) {
    if (value === undefined) continue;
    const text = queryText(value);
    const items = Array.isArray(value) && value.length >= 2 ? value.map(queryText) : [null];
    if (text !== null) params.push([name, text]);
    else if (!items.includes(null)) for (const item of items) params.push([name, item]);
    else rest[name] = value;
  }
  return [params, rest];
}

function query(code, kwargs, options, sha) {
  const params = new URLSearchParams();
  if (sha) params.set("code_sha256", sha);
  else params.set("code_b64", encodeText(code, true));
  for (const [name, value] of Object.entries(callFields(options))) {
    params.set(name, queryValue(value));
  }
  if (kwargs && Object.keys(kwargs).length) {
    params.set("kwargs_b64", encodeText(jsonText(kwargs), true));
  }
  return params;
}

/**
 * A GET URL that makes the call — for `EventSource`, `<img src>`, `<audio src>` or a link.
 * Options: `fnName`, `fields` (call fields such as `use_cache`, `env`), `token` (a server's
 * `--token`: these elements cannot send an Authorization header, so it goes in the URL as
 * `?token=`; the server takes it out before logging).
 */
export function url(target, code, kwargs = {}, options = {}) {
  code = sourceText(code);
  const result = resolve(target);
  for (const [name, value] of query(code, kwargs, options, null)) {
    result.searchParams.set(name, value);
  }
  if (options.token) result.searchParams.set("token", options.token);
  return result.toString();
}

function headersFor(options, json) {
  try {
    const headers = new Headers(options.headers || {});
    if (json) headers.set("content-type", "application/json");
    if (options.token) headers.set("authorization", `Bearer ${options.token}`);
    if (options.auth) {
      const [user, password] = Array.isArray(options.auth)
        ? options.auth
        : String(options.auth).split(/:(.*)/s);
      headers.set("authorization", basicAuth(user, password));
    }
    return headers;
  } catch (cause) {
    // Headers' own message names the header but not where it came from.
    if (!(cause instanceof TypeError)) throw cause;
    throw new TypeError(
      `this request cannot be sent: ${cause.message} (a header of options.headers, or ` +
        "options.token, holds a line break or another character HTTP headers cannot carry)",
    );
  }
}

function isBinary(value) {
  return (
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value) ||
    (typeof Blob !== "undefined" && value instanceof Blob)
  );
}

/**
 * Arguments → [the JSON-able ones, the binary ones]. Uint8Array (any typed array or
 * DataView), ArrayBuffer, Blob and File arguments travel as multipart file parts, which the
 * server hands to the function as `bytes`.
 */
export function splitFiles(kwargs) {
  const plain = {};
  const files = {};
  for (const [name, value] of Object.entries(kwargs || {})) {
    if (isBinary(value)) files[name] = value;
    else plain[name] = value;
  }
  return [plain, files];
}

function multipartBody(code, plain, files, options, sha) {
  const form = new FormData();
  for (const [name, value] of Object.entries(encode(code, plain, options, sha))) {
    form.append(name, queryValue(value));
  }
  for (const [name, value] of Object.entries(files)) appendFile(form, name, value);
  return form;
}

function appendFile(form, name, value) {
  if (typeof Blob !== "undefined" && value instanceof Blob) {
    form.append(name, value, value.name || name);
  } else {
    const bytes = ArrayBuffer.isView(value)
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : new Uint8Array(value);
    form.append(name, new Blob([bytes], { type: "application/octet-stream" }), name);
  }
}

function request(target, code, kwargs, options, sha) {
  if (options.body !== undefined) {
    return upload(resolve(target), query(code, kwargs, options, sha), options);
  }
  let method = (options.method || "POST").toUpperCase();
  const [plain, files] = splitFiles(kwargs);
  const multipart = Object.keys(files).length > 0;
  if (multipart && (method === "GET" || method === "HEAD")) method = "POST"; // bytes need a body
  const get = method === "GET" || method === "HEAD";
  // A FormData body sets its own multipart content type (with the boundary).
  const json = !get && !multipart;
  const init = { method, signal: options.signal, headers: headersFor(options, json) };
  if (options.fields && options.fields.requirements) {
    // A build of the requirements' environment shows as progress events before the result.
    init.headers.set("accept", "text/event-stream, */*;q=0.5");
  }
  const address = resolve(target);
  if (multipart) {
    init.body = multipartBody(code, plain, files, options, sha);
  } else if (get) {
    for (const [name, value] of query(code, kwargs, options, sha)) {
      address.searchParams.set(name, value);
    }
  } else {
    init.body = jsonText(encode(code, kwargs, options, sha));
  }
  return [address.toString(), init];
}

/**
 * `options.body` sent raw (a Blob or File, bytes, a string, or a ReadableStream of bytes),
 * for the adaptor to read with `request.stream()`: the call's fields go in the query. Its
 * type: `options.contentType`, else a Blob's own, else application/octet-stream.
 */
function upload(address, params, options) {
  const { body } = options;
  for (const [name, value] of params) address.searchParams.set(name, value);
  const headers = headersFor(options, false);
  const blobType = typeof Blob !== "undefined" && body instanceof Blob ? body.type : "";
  headers.set("content-type", options.contentType || blobType || "application/octet-stream");
  const init = { method: "POST", signal: options.signal, headers, body };
  // A stream goes as it is read (fetch needs `duplex` for that); it cannot be sent twice.
  if (isStream(body)) {
    if (body.locked) {
      throw new TypeError("options.body is a ReadableStream already being read: a stream is sent once");
    }
    init.duplex = "half";
  }
  return [address.toString(), init];
}

function isStream(body) {
  return typeof ReadableStream !== "undefined" && body instanceof ReadableStream;
}

async function errorFor(response) {
  const text = await reading(response, () => response.text());
  let payload = null;
  try {
    payload = JSON.parse(text);
  } catch {
    // not JSON: a proxy's page, or an adaptor's own error body
  }
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) {
    const message = text.trim().slice(0, 2000) || `HTTP ${response.status}`;
    payload = { error: "http_error", message };
  }
  return new OwtError(response.status, payload);
}

// The server holds code once the call was resolved, so also after compile/runtime errors.
function keepsCode(status) {
  return status < 400 || [422, 424, 500, 502, 504].includes(status);
}

/**
 * Send a call and return the fetch Response once its status is known to be a success.
 * Options: `method` ("POST" | "GET"), `fnName`, `fields`, `headers`, `token`,
 * `auth` ("user:password" or [user, password]), `signal`, `fetch` (a fetch function),
 * `reuse` (false: always send the code), `sent` (a Set of hashes to use as this call's
 * memory instead of the module's, per server origin), `body` and `contentType` (a raw body
 * the adaptor reads with `request.stream()`; the call's fields then go in the query),
 * `onProgress` (each progress event of the build of `fields.requirements`' environment).
 */
export async function send(target, code, kwargs = {}, options = {}) {
  code = sourceText(code);
  const fetchFn = options.fetch || globalThis.fetch;
  let memory = options.sent;
  if (!memory) {
    const origin = resolve(target).origin;
    memory = sentCodes.get(origin);
    if (!memory) sentCodes.set(origin, (memory = new Set()));
  }
  // A streamed upload goes once: its call always carries the code (the hash might miss).
  const once = options.reuse === false || isStream(options.body);
  const sha = once ? null : await sha256(code);
  if (sha && memory.has(sha)) {
    const response = await fetched(fetchFn, ...request(target, code, kwargs, options, sha));
    if (response.ok) return pastProgress(response, options);
    const error = await errorFor(response);
    if (error.kind !== "unknown_code") throw error;
    memory.delete(sha);
  }
  const response = await fetched(fetchFn, ...request(target, code, kwargs, options, null));
  if (sha && keepsCode(response.status)) memory.add(sha);
  if (!response.ok) throw await errorFor(response);
  return pastProgress(response, options);
}

function blankLine(bytes, from) {
  for (let i = Math.max(from, 1); i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 10) return i - 1;
  }
  return -1;
}

function eventOf(text) {
  let name = "message";
  const data = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  try {
    return [name, JSON.parse(data.join("\n"))];
  } catch {
    return [name, null];
  }
}

function progressLine() {
  const stderr = globalThis.process && globalThis.process.stderr;
  if (!stderr || !stderr.isTTY) return null;
  return (event) => {
    const detail = event.detail ? ` ${event.detail}` : "";
    const text = `owt: building the environment: ${event.phase}${detail}`.slice(0, 100);
    const mb = event.total_mb ? ` (${event.downloaded_mb || 0} of ${event.total_mb} MB)` : "";
    stderr.write(`\r\x1b[K${text} ${event.elapsed}s${mb}`);
  };
}

/**
 * The call's own Response behind the progress events of its environment's build
 * (`X-Owt-Progress: 1`): each `progress` event goes to `options.onProgress` (by default a
 * line on a terminal's stderr in Node), an `error` event throws OwtError, and the `result`
 * event gives the status and content type of the body that follows it.
 */
async function pastProgress(response, options) {
  if (response.headers.get("x-owt-progress") !== "1") return response;
  const onProgress = options.onProgress || progressLine();
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  let start = 0;
  for (;;) {
    const end = blankLine(buffer, start);
    if (end >= 0) {
      const [name, data] = eventOf(new TextDecoder().decode(buffer.subarray(start, end)));
      start = end + 2;
      if (name === "progress" && data && onProgress) onProgress(data);
      if (name === "error") {
        await reader.cancel().catch(() => {});
        const { status = 500, ...payload } = data || {};
        throw new OwtError(status, payload);
      }
      if (name === "result") return resultResponse(response, reader, buffer.subarray(start), data);
      continue;
    }
    let step;
    try {
      step = await reader.read();
    } catch (cause) {
      throw cutShort(response, cause);
    }
    const { done, value } = step;
    if (done) throw streamCut(response, null, ", before the call's result");
    const grown = new Uint8Array(buffer.length - start + value.length);
    grown.set(buffer.subarray(start));
    grown.set(value, buffer.length - start);
    buffer = grown;
    start = 0;
  }
}

function resultResponse(response, reader, rest, head) {
  const body = new ReadableStream({
    start(controller) {
      if (rest.length) controller.enqueue(rest.slice());
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  const headers = new Headers(response.headers);
  for (const name of ["x-owt-progress", "content-length", "content-type"]) headers.delete(name);
  if (head && head.content_type) headers.set("content-type", head.content_type);
  return new Response(body, { status: (head && head.status) || 200, headers });
}

function mediaType(response) {
  return (response.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
}

function isText(media) {
  return (
    media.startsWith("text/") ||
    ["application/json", "application/x-ndjson", "application/xml"].includes(media) ||
    media.endsWith("+json") ||
    media.endsWith("+xml")
  );
}

/** Decode a successful Response by its content type. */
export async function decode(response) {
  const media = mediaType(response);
  if (media === "text/event-stream") {
    // Read whole, as text: when it fails, the `event: error` in it is the error thrown.
    let body = "";
    for await (const chunk of chunksOf(response)) body += chunk;
    return body;
  }
  if (media === "application/json" || media.endsWith("+json")) {
    const text = await reading(response, () => response.text());
    return text.trim() ? JSON.parse(text) : null;
  }
  if (media === "application/x-ndjson") {
    const text = await reading(response, () => response.text());
    return text.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
  }
  if (isText(media)) return reading(response, () => response.text());
  const bytes = new Uint8Array(await reading(response, () => response.arrayBuffer()));
  return !media && bytes.length === 0 ? null : bytes;
}

/** Run `code` with `kwargs`; the result decoded by its content type. */
export async function call(target, code, kwargs = {}, options = {}) {
  return decode(await send(target, code, kwargs, options));
}

// Every read of a body goes through here. A body that fails while it is read was cut short
// (the server ends a failed stream without its final chunk): that is OwtError stream_failed,
// never fetch's bare TypeError ("terminated"). The caller's own abort stays what it is.
async function reading(response, read) {
  unread(response);
  try {
    return await read();
  } catch (cause) {
    throw cutShort(response, cause);
  }
}

function unread(response) {
  if (response.bodyUsed || (response.body && response.body.locked)) {
    throw new TypeError("this response's body is already read: a Response can be read once");
  }
}

function cutShort(response, cause) {
  const own = cause && (cause.name === "AbortError" || cause.name === "TimeoutError");
  return cause instanceof OwtError || own ? cause : streamCut(response, cause);
}

// A response that started well and stopped before its end, with no `event: error` to say why
// (one that came is thrown as the server's own error instead): the server may have stopped,
// the connection may have broken, or the adaptor may have failed, so the message says so.
function streamCut(response, cause, when = "") {
  let reason = "";
  if (cause) {
    const deeper = cause.cause && cause.cause.message ? `: ${cause.cause.message}` : "";
    reason = ` (${redacted(`${cause.message || cause}${deeper}`)})`;
  }
  const error = new OwtError(response.status, {
    error: "stream_failed",
    message:
      `the response ended early${when}${reason}: the server stopped, the connection was cut, or the ` +
      "adaptor failed midway (the server's log says which, with the adaptor's traceback)",
  });
  if (cause) error.cause = cause;
  return error;
}

async function* chunksOf(response) {
  if (!response.body) return; // HEAD, 204: there is no body
  const media = mediaType(response);
  const decoder = isText(media) ? new TextDecoder() : null;
  // A failing SSE body says why (`event: error`) before the server cuts it: that error is the
  // one thrown, with the server's kind, not the cut.
  const watch = media === "text/event-stream" ? new EventParser(response.status) : null;
  unread(response);
  const reader = response.body.getReader();
  try {
    for (;;) {
      let step;
      try {
        step = await reader.read();
      } catch (cause) {
        throw (watch && watch.failure) || cutShort(response, cause);
      }
      if (step.done) break;
      const value = step.value;
      if (!value || value.length === 0) continue;
      if (decoder) {
        const chunk = decoder.decode(value, { stream: true });
        if (watch) watch.feed(chunk);
        if (chunk) yield chunk;
      } else {
        yield value;
      }
      if (watch) watch.check();
    }
    if (decoder) {
      const tail = decoder.decode();
      if (watch) watch.feed(tail);
      if (tail) yield tail;
    }
    if (watch) {
      watch.end();
      watch.check();
    }
  } finally {
    // Leaving early (break, an exception) cancels the request: the server stops the generator.
    await reader.cancel().catch(() => {});
  }
}

/**
 * Run `code`; an async iterator over its body's chunks as they arrive — strings for text
 * content types, Uint8Arrays otherwise.
 */
export async function* stream(target, code, kwargs = {}, options = {}) {
  yield* chunksOf(await send(target, code, kwargs, options));
}

// owt's sse() ends a stream with `id: [DONE]` / `data: [DONE]`; an item that is the text
// "[DONE]" has an id of its own (`id: 2` / `data: [DONE]`) and is data like any other.
const DONE = "[DONE]";

/**
 * Parses server-sent event text: `feed(text)` returns the data of each completed event
 * (JSON-decoded when it parses), `end()` those left when the text ends. The event whose id is
 * `[DONE]` ends the stream (`done`); in a stream without ids (not owt's `sse()`),
 * `data: [DONE]` does. An `event: error` (what owt sends when a stream fails after it
 * started) ends the stream too and sets `failure` to an OwtError with the error it carries,
 * with `status`; `check()` throws it.
 */
export class EventParser {
  #partial = []; // the pieces of a line not ended yet
  #afterCR = false; // the last text ended with "\r": a "\n" first in the next is its pair
  #data = [];
  #event = "";
  #id = null;

  constructor(status = 200) {
    this.done = false;
    this.status = status;
    this.failure = null;
  }

  /** Throw the error an `event: error` carried, if one came. */
  check() {
    if (this.failure) throw this.failure;
  }

  feed(text) {
    const events = [];
    if (!text) return events; // (a decoder's read that ended inside a character)
    if (this.#afterCR && text.startsWith("\n")) text = text.slice(1);
    this.#afterCR = text.endsWith("\r");
    // Only the new text is searched for line breaks: a large event (a picture, a sound)
    // comes in many reads, and searching all of it again at each one was quadratic.
    const lines = text.split(/\r\n|\r|\n/);
    const rest = lines.pop();
    for (const [i, piece] of lines.entries()) {
      const line = i === 0 ? this.#partial.join("") + piece : piece;
      if (i === 0) this.#partial = [];
      this.#line(line, events);
      if (this.done) return events;
    }
    if (rest) this.#partial.push(rest);
    return events;
  }

  #line(line, events) {
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (line === "") this.#dispatch(events);
    else if (name === "data") this.#data.push(value);
    else if (name === "event") this.#event = value;
    else if (name === "id") this.#id = value;
  }

  end() {
    const events = [];
    const rest = this.#partial.join("");
    this.#partial = [];
    if (rest && !this.done) this.#line(rest, events);
    this.#dispatch(events);
    return events;
  }

  #dispatch(events) {
    const [event, id, data] = [this.#event, this.#id, this.#data.join("\n")];
    const empty = this.#data.length === 0;
    [this.#event, this.#id, this.#data] = ["", null, []];
    if (this.done || (empty && id !== DONE)) return;
    if (event === "error") {
      this.done = true;
      this.failure = new OwtError(this.status, errorPayload(data));
    } else if (id === DONE || (id === null && data === DONE)) {
      this.done = true;
    } else {
      try {
        events.push(JSON.parse(data));
      } catch {
        events.push(data);
      }
    }
  }
}

function errorPayload(data) {
  try {
    const payload = JSON.parse(data);
    if (payload && typeof payload === "object" && !Array.isArray(payload)) return payload;
  } catch {
    // not JSON: its text is the message
  }
  return { error: "stream_failed", message: data || "the stream sent an error" };
}

/**
 * Run `code` that answers with server-sent events (`owt.lib.stream.sse`); an async iterator
 * over each event's data, JSON-decoded when it parses, ending at the `[DONE]` event (see
 * EventParser).
 */
export async function* events(target, code, kwargs = {}, options = {}) {
  const response = await send(target, code, kwargs, options);
  if (mediaType(response) !== "text/event-stream") {
    // Its body holds no event: iterating it would end at once and the answer would vanish.
    await response.body?.cancel().catch(() => {});
    const type = response.headers.get("content-type");
    throw new OwtError(response.status, {
      error: "not_event_stream",
      message:
        `the answer is not an event stream (its content type is ${type || "none"}, not ` +
        "text/event-stream): call it for its result, or stream it for its chunks",
      content_type: type,
    });
  }
  const parser = new EventParser(response.status);
  const decoder = new TextDecoder();
  const chunks = chunksOf(response);
  try {
    for await (const chunk of chunks) {
      const text = typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
      yield* parser.feed(text);
      parser.check();
      if (parser.done) return;
    }
    yield* parser.end();
    parser.check();
  } finally {
    await chunks.return();
  }
}

// The fields of a call. An endpoint argument of one of these names travels inside `kwargs`
// (`kwargs_b64` in a query), where the server reads it as an argument, not as the call's own.
const CALL_FIELDS = new Set([
  "accelerator_type", "cache_key_override", "cache_kwargs", "code_b64", "code_sha256", "env",
  "fn_name", "kwargs", "kwargs_b64", "memory", "num_cpus", "num_gpus", "rebuild",
  "requirements", "resources", "timeout", "use_cache",
]);

/**
 * Send a call to a mounted or registered endpoint (no code): `kwargs` as a JSON body; with
 * `method: "GET"`, as query parameters (`queryArguments`: a list as one parameter per item,
 * what text cannot carry in `kwargs_b64`). Binary arguments (Uint8Array, ArrayBuffer, Blob)
 * make it a multipart POST: file parts, the other arguments as its text fields.
 * `options.fields` holds the call's own options a caller may set (`timeout`, `use_cache`,
 * `cache_kwargs`, `cache_key_override`). With `options.body`, that is sent raw and `kwargs`
 * go in the query. The fetch Response, once it is a success.
 */
export async function sendEndpoint(target, kwargs = {}, options = {}) {
  const fetchFn = options.fetch || globalThis.fetch;
  const args = Object.entries(kwargs || {}).filter(([, value]) => value !== undefined);
  const own = Object.entries(callFields({ fields: options.fields }));
  const address = resolve(target);
  if (options.body !== undefined) {
    // The body is the upload: the arguments go as JSON in the query, their types kept.
    const params = new URLSearchParams();
    if (args.length) params.set("kwargs_b64", encodeText(jsonText(Object.fromEntries(args)), true));
    for (const [name, value] of own) params.set(name, queryValue(value));
    return checked(await fetched(fetchFn, ...upload(address, params, options)));
  }
  const files = args.filter(([, value]) => isBinary(value));
  const plain = args.filter(([name, value]) => !isBinary(value) && !CALL_FIELDS.has(name));
  const named = args.filter(([name, value]) => !isBinary(value) && CALL_FIELDS.has(name));
  let method = (options.method || "POST").toUpperCase();
  if (files.length && (method === "GET" || method === "HEAD")) method = "POST"; // bytes need a body
  const textual = files.length > 0 || method === "GET" || method === "HEAD";
  const init = { method, signal: options.signal, headers: headersFor(options, !textual) };
  if (textual) {
    const [params, rest] = queryArguments(Object.fromEntries(plain));
    Object.assign(rest, Object.fromEntries(named));
    if (Object.keys(rest).length) params.push(["kwargs_b64", encodeText(jsonText(rest), true)]);
    for (const [name, value] of own) params.push([name, queryValue(value)]);
    if (files.length) {
      // A FormData body sets its own multipart content type (with the boundary).
      init.body = new FormData();
      for (const [name, value] of params) init.body.append(name, value);
      for (const [name, value] of files) appendFile(init.body, name, value);
    } else {
      for (const [name] of params) address.searchParams.delete(name);
      for (const [name, value] of params) address.searchParams.append(name, value);
    }
  } else {
    const body = Object.fromEntries(plain);
    if (named.length) body.kwargs = Object.fromEntries(named);
    init.body = jsonText({ ...body, ...Object.fromEntries(own) });
  }
  return checked(await fetched(fetchFn, address.toString(), init));
}

async function checked(response) {
  if (!response.ok) throw await errorFor(response);
  return response;
}

/** Call an endpoint (`owt codegen --lang typescript` writes typed functions over this). */
export async function endpoint(target, kwargs = {}, options = {}) {
  return decode(await sendEndpoint(target, kwargs, options));
}

/** An endpoint's streamed body: chunks as they arrive, as `stream()` gives them. */
export async function* endpointStream(target, kwargs = {}, options = {}) {
  yield* chunksOf(await sendEndpoint(target, kwargs, options));
}

/** Forget which codes were sent (all servers, or one origin). */
export function forget(target = null) {
  if (target === null) sentCodes.clear();
  else sentCodes.delete(resolve(target).origin);
}
