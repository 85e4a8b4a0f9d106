// The owt playground: run adaptors, watch their answers arrive, copy the call, call endpoints,
// read the server's status. Plain ES module, no dependencies, served by owt at /_owt/.

import { snippet } from "./snippets.js";
import { joinWavs } from "./wav.js";

const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();

// ---------------------------------------------------------------- starting adaptors
const EXAMPLES = {
  echo: {
    label: "echo",
    code: `def run(name="owt"):
    return f"Hello, {name}!"
`,
    args: { name: "owt" },
  },
  json: {
    label: "JSON",
    code: `def run(request, n=3):
    return {"squares": [i * i for i in range(int(n))], "path": request.path}
`,
    args: { n: 4 },
  },
  stream: {
    label: "a stream",
    code: `import time

def run(n=5, pause=0.3):
    for i in range(int(n)):
        yield f"chunk {i}\\n"
        time.sleep(float(pause))
`,
    args: { n: 5, pause: 0.3 },
  },
  sse: {
    label: "server-sent events",
    code: `import time
from owt.lib.stream import sse

def events(words):
    for i, word in enumerate(words.split()):
        yield {"index": i, "word": word}
        time.sleep(0.2)

def run(words="one two three"):
    return sse(events(words))
`,
    args: { words: "one two three" },
  },
  html: {
    label: "an HTML page",
    code: `def run(title="Hello from owt"):
    return f"""<!doctype html>
<html><body style="font-family: sans-serif">
<h1>{title}</h1><p>This page is an adaptor's answer, shown in a sandboxed frame.</p>
</body></html>"""
`,
    args: { title: "Hello from owt" },
  },
  image: {
    label: "an image",
    code: `def run(size=120):
    s = int(size)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}">'
           f'<circle cx="{s/2}" cy="{s/2}" r="{s/3}" fill="none" stroke="#e8a33d" stroke-width="{s/8}"/>'
           '</svg>')
    return svg.encode(), {"content-type": "image/svg+xml"}
`,
    args: { size: 120 },
  },
  tts: {
    label: "speech (owt.lib.tts)",
    code: `# espeak-ng speaks each sentence as it is ready (server-sent events with WAV audio)
from owt.lib.tts import run
`,
    args: { text: "Hello from owt. This is the playground speaking." },
  },
  fail: {
    label: "a stream that fails",
    code: `import time
from owt.lib.stream import sse

def events():
    yield "first"
    time.sleep(0.2)
    yield "second"
    raise ValueError("the stream broke midway")

def run():
    return sse(events())
`,
    args: {},
  },
};

// ---------------------------------------------------------------- credentials
const CREDENTIAL = "owt-credential";

function takeTokenFromUrl() {
  const here = new URL(location.href);
  const token = here.searchParams.get("token");
  if (token === null) return;
  sessionStorage.setItem(CREDENTIAL, JSON.stringify({ kind: "bearer", value: token }));
  here.searchParams.delete("token");
  history.replaceState(null, "", here.pathname + here.search + here.hash);
}

function credential() {
  try {
    return JSON.parse(sessionStorage.getItem(CREDENTIAL) || "null");
  } catch {
    return null;
  }
}

function authorization(cred = credential()) {
  if (!cred) return null;
  if (cred.kind === "basic") {
    const bytes = encoder.encode(cred.value);
    return "Basic " + btoa(String.fromCharCode(...bytes));
  }
  return "Bearer " + cred.value;
}

let asking = null;

function askCredential() {
  if (asking) return asking;
  const dialog = $("auth");
  asking = new Promise((resolve) => {
    $("auth-form").onsubmit = () => {
      const kind = document.querySelector("input[name=auth-kind]:checked").value;
      const value = $("credential").value;
      sessionStorage.setItem(CREDENTIAL, JSON.stringify({ kind, value }));
      asking = null;
      resolve();
    };
  });
  if (!dialog.open) dialog.showModal();
  $("credential").focus();
  return asking;
}

/** fetch() with this tab's credentials; a 401 asks for them (once) and tries again. */
async function owtFetch(url, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = new Headers(init.headers || {});
    // Asks the server not to challenge with Basic: the browser's own login box would open.
    headers.set("x-requested-with", "XMLHttpRequest");
    const auth = authorization();
    if (auth) headers.set("authorization", auth);
    const response = await fetch(url, { ...init, headers });
    if (response.status !== 401 || attempt >= 3) return response;
    await askCredential();
  }
}

// ---------------------------------------------------------------- the call on the form
function base64(bytes, urlSafe = false) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  const text = btoa(binary);
  return urlSafe ? text.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : text;
}

function readArgs() {
  const text = $("args").value.trim();
  if (!text) return {};
  const value = JSON.parse(text);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("the arguments must be a JSON object, such as {\"name\": \"owt\"}");
  }
  return value;
}

/** The requirements field, read as the server reads its string form: one per line, or
 * separated by commas where the next one starts (a name, a URL or a path); a comma before a
 * version operator goes on with the range, so `six >= 1, <2, numpy` is two. */
function splitRequirements(text) {
  const pieces = [];
  for (const line of text.split(/\r?\n/)) {
    for (const piece of line.split(",")) {
      if (pieces.length && !/^\s*([A-Za-z0-9.\/~]|$)/.test(piece)) pieces[pieces.length - 1] += "," + piece;
      else pieces.push(piece);
    }
  }
  return pieces.map((piece) => piece.trim()).filter(Boolean);
}

/** The call the form describes: everything a snippet or a request needs. */
function formCall() {
  const options = {};
  const fn = $("fn_name").value.trim();
  if (fn && fn !== "run") options.fn_name = fn;
  const env = $("env").value.trim();
  if (env) options.env = env;
  const requirements = splitRequirements($("requirements").value);
  if (requirements.length) options.requirements = requirements;
  const timeout = $("timeout").value.trim();
  if (timeout) options.timeout = Number(timeout);
  if ($("use_cache").checked) options.use_cache = true;
  if ($("cache_kwargs").checked) options.cache_kwargs = true;
  const key = $("cache_key_override").value.trim();
  if (key) options.cache_key_override = key;
  let path = $("path").value.trim() || "/";
  if (!path.startsWith("/")) path = "/" + path;
  return {
    kind: "code",
    method: $("method").value,
    path,
    code: $("code").value,
    kwargs: readArgs(),
    options,
    origin: location.origin,
    credential: credential(),
    answer: lastShape,
  };
}

function queryValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** [url, fetch init] for a call described by formCall() or an endpoint form. */
export function requestFor(call) {
  const url = new URL(call.path, location.origin);
  if (call.kind === "endpoint") {
    for (const [name, value] of Object.entries(call.kwargs)) url.searchParams.set(name, value);
    return [url.toString(), { method: "GET" }];
  }
  const code = encoder.encode(call.code);
  if (call.method === "GET") {
    url.searchParams.set("code_b64", base64(code, true));
    for (const [name, value] of Object.entries(call.options)) {
      url.searchParams.set(name, queryValue(value));
    }
    if (Object.keys(call.kwargs).length) {
      url.searchParams.set("kwargs_b64", base64(encoder.encode(JSON.stringify(call.kwargs)), true));
    }
    return [url.toString(), { method: "GET", headers: buildHeaders(call) }];
  }
  const body = { code_b64: base64(code), ...call.options };
  if (Object.keys(call.kwargs).length) body.kwargs = call.kwargs;
  const headers = { "content-type": "application/json", ...buildHeaders(call) };
  return [url.toString(), { method: "POST", headers, body: JSON.stringify(body) }];
}

/** A call that brings requirements asks to watch its environment being built: while it
 * builds, the answer is `progress` events, then `result` and the call's own answer. */
function buildHeaders(call) {
  return call.options.requirements ? { accept: "text/event-stream, */*;q=0.5" } : {};
}

/** The call's own answer, past its environment's build (an answer marked X-Owt-Progress):
 * each `progress` event goes to `onProgress`; `error` is the call's error with its status;
 * after `result` come the call's bytes, an event stream streamed on, anything else whole. */
async function pastTheBuild(response, onProgress) {
  if (response.headers.get("x-owt-progress") !== "1") return response;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = new Uint8Array(0);
  for (;;) {
    const end = blankLine(pending);
    if (end < 0) {
      const { done, value } = await reader.read();
      if (done) throw new Error("the build's progress ended before the call's answer");
      pending = joinBytes([pending, value]);
      continue;
    }
    const block = decoder.decode(pending.subarray(0, end));
    pending = pending.subarray(end + 2);
    const name = (block.match(/^event: ?(.*)$/m) || [])[1];
    const data = parseMaybe((block.match(/^data: ?(.*)$/m) || [])[1] || "null");
    if (name === "progress") {
      onProgress(data);
    } else if (name === "error") {
      reader.cancel().catch(() => {});
      const headers = { "content-type": "application/json" };
      return new Response(JSON.stringify(data), { status: data.status || 500, headers });
    } else if (name === "result") {
      const headers = { "content-type": data.content_type || "application/octet-stream" };
      if (headers["content-type"].startsWith("text/event-stream")) {
        return new Response(restOf(reader, pending), { status: data.status, headers });
      }
      const rest = [pending];
      for (let read = await reader.read(); !read.done; read = await reader.read()) rest.push(read.value);
      const body = joinBytes(rest);
      headers["content-length"] = String(body.length);
      return new Response(body, { status: data.status, headers });
    }
  }
}

function blankLine(bytes) {
  for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 10 && bytes[i + 1] === 10) return i;
  return -1;
}

function joinBytes(parts) {
  const joined = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

/** The bytes after `first` still to come from `reader`, as a body of their own. */
function restOf(reader, first) {
  return new ReadableStream({
    start(controller) {
      if (first.length) controller.enqueue(first);
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
}

// ---------------------------------------------------------------- showing an answer
let running = null; // the AbortController of the call in flight
let lastShape = "whole";
let objectUrls = [];

function resetAnswer() {
  for (const u of objectUrls) URL.revokeObjectURL(u);
  objectUrls = [];
  $("output").replaceChildren();
  $("chunks").replaceChildren();
  $("error").hidden = true;
  const player = $("player");
  player.hidden = true;
  player.removeAttribute("src");
  delete document.body.dataset.played;
  delete document.body.dataset.status;
}

function blobUrl(parts, type) {
  const u = URL.createObjectURL(new Blob(parts, { type }));
  objectUrls.push(u);
  return u;
}

function showError(payload, status) {
  const box = $("error");
  box.hidden = false;
  box.querySelector(".kind").textContent = payload.error || `HTTP ${status}`;
  box.querySelector(".message").textContent = payload.message || "";
  const extra = box.querySelector(".extra");
  extra.replaceChildren();
  for (const [name, value] of Object.entries(payload)) {
    if (["error", "message", "traceback", "log_tail"].includes(name)) continue;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = typeof value === "string" ? value : JSON.stringify(value);
    extra.append(dt, dd);
  }
  box.querySelector(".traceback").textContent = payload.traceback || payload.log_tail || "";
  document.body.dataset.state = "failed";
}

function summary(parts) {
  $("summary").textContent = parts.filter(Boolean).join(" · ");
}

function formatBytes(n) {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
}

function addChunk(text) {
  const li = document.createElement("li");
  li.className = "chunk";
  li.textContent = text;
  $("chunks").append(li);
  return li;
}

function mediaOf(response) {
  return (response.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
}

function isTextual(media) {
  return media.startsWith("text/") || media === "application/json" || media.endsWith("+json")
    || media === "application/x-ndjson" || media.endsWith("+xml") || media === "application/xml";
}

function isWav(bytes) {
  return bytes.length > 12 && String.fromCharCode(...bytes.subarray(0, 4)) === "RIFF"
    && String.fromCharCode(...bytes.subarray(8, 12)) === "WAVE";
}

function showWhole(bytes, media) {
  const out = $("output");
  if (media === "application/json" || media.endsWith("+json")) {
    const pre = document.createElement("pre");
    pre.className = "json";
    const text = new TextDecoder().decode(bytes);
    try {
      pre.textContent = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      pre.textContent = text;
    }
    out.append(pre);
  } else if (media === "text/html") {
    const frame = document.createElement("iframe");
    frame.setAttribute("sandbox", "");
    frame.className = "html";
    frame.srcdoc = new TextDecoder().decode(bytes);
    out.append(frame);
  } else if (media.startsWith("image/")) {
    const img = document.createElement("img");
    img.className = "image";
    img.src = blobUrl([bytes], media);
    out.append(img);
  } else if (media.startsWith("audio/") || isWav(bytes)) {
    const player = $("player");
    player.src = blobUrl([bytes], media.startsWith("audio/") ? media : "audio/wav");
    player.hidden = false;
  } else if (isTextual(media) || (!media && bytes.length === 0)) {
    const pre = document.createElement("pre");
    pre.className = "text";
    pre.textContent = new TextDecoder().decode(bytes);
    out.append(pre);
  } else {
    const p = document.createElement("p");
    const a = document.createElement("a");
    a.href = blobUrl([bytes], media || "application/octet-stream");
    a.download = "answer.bin";
    a.textContent = `${formatBytes(bytes.length)} of ${media || "bytes"} — download`;
    p.append(a);
    out.append(p);
  }
}

// Audio from server-sent events: each event's WAV (base64) is played in turn as it arrives;
// the player ends up holding the whole recording: the clips joined (or an event's
// "cumulative" audio, from an adaptor that sends it).
class AudioQueue {
  constructor() {
    this.queue = [];
    this.playing = false;
    this.played = 0;
    this.last = null;
  }

  add(url) {
    this.queue.push(url);
    if (!this.playing) this.next();
  }

  next() {
    const url = this.queue.shift();
    if (!url) {
      this.playing = false;
      return;
    }
    this.playing = true;
    const audio = new Audio(url);
    const done = () => {
      this.played++;
      document.body.dataset.played = String(this.played);
      this.next();
    };
    audio.onended = done;
    audio.onerror = done;
    audio.play().catch(done);
  }
}

function wavFromBase64(text) {
  if (typeof text !== "string" || !text.startsWith("UklGR")) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// owt's sse() ends a stream with `id: [DONE]` / `data: [DONE]`; an item that is the text
// "[DONE]" has an id of its own (`id: 7` / `data: [DONE]`) and is data like any other.
const DONE = "[DONE]";

// Server-sent events → onEvent(event, data) for each one with data, until the event whose id
// is [DONE] (in a stream without ids, data: [DONE]) or an `event: error`, which ends it too.
class EventReader {
  constructor(onEvent) {
    this.buffer = "";
    this.data = [];
    this.event = "";
    this.id = null;
    this.done = false; // the [DONE] event came
    this.ended = false; // it came, or an error event did: later events are not read
    this.onEvent = onEvent;
  }

  feed(text) {
    this.buffer += text;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) {
      if (line === "") this.dispatch();
      else if (line.startsWith("data:")) this.data.push(fieldValue(line, 5));
      else if (line.startsWith("event:")) this.event = line.slice(6).trim();
      else if (line.startsWith("id:")) this.id = fieldValue(line, 3);
    }
  }

  dispatch() {
    const [event, id, data] = [this.event || "message", this.id, this.data.join("\n")];
    const empty = this.data.length === 0;
    [this.data, this.event, this.id] = [[], "", null];
    if (this.ended || (empty && id !== DONE)) return;
    if (event === "error") {
      this.ended = true;
      this.onEvent(event, data);
    } else if (id === DONE || (id === null && data === DONE)) {
      this.ended = this.done = true;
    } else {
      this.onEvent(event, data);
    }
  }
}

function fieldValue(line, colon) {
  return line.slice(line[colon] === " " ? colon + 1 : colon);
}

// Long strings in events (base64 audio) are shortened on screen; the data itself is kept.
function shorten(_, value) {
  if (typeof value !== "string" || value.length <= 120) return value;
  const what = value.startsWith("UklGR") ? "WAV, base64" : "characters";
  return `${value.slice(0, 24)}… (${value.length} ${what})`;
}

function parseMaybe(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function readStream(response, media, state) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const sse = media === "text/event-stream";
  state.events = sse;
  const textual = isTextual(media);
  const binary = [];
  const audio = new AudioQueue();
  const clips = [];
  let recording = null; // the whole audio, when an event carries it ("cumulative")
  const events = new EventReader((event, data) => {
    if (event === "error") {
      state.failed = true;
      const payload = parseMaybe(data);
      showError(typeof payload === "object" ? payload : { error: "error", message: data });
      return;
    }
    state.chunks++; // an event stream counts its events, not the reads that carried them
    const value = parseMaybe(data);
    addChunk(typeof value === "string" ? value : JSON.stringify(value, shorten));
    if (value && typeof value === "object") {
      const clip = wavFromBase64(value.sentence || value.audio || value.wav);
      if (clip) {
        audio.add(blobUrl([clip], "audio/wav"));
        clips.push(clip);
      }
      const whole = wavFromBase64(value.cumulative);
      if (whole) recording = new Blob([whole]);
    }
  });
  const pre = textual && !sse ? document.createElement("pre") : null;
  if (pre) {
    pre.className = "text";
    $("output").append(pre);
  }
  for (;;) {
    const { done, value } = await reader.read(); // a broken stream throws here
    if (done) break;
    state.bytes += value.length;
    if (!sse) state.chunks++;
    if (sse) {
      events.feed(decoder.decode(value, { stream: true }));
    } else if (textual) {
      const text = decoder.decode(value, { stream: true });
      addChunk(text);
      pre.textContent += text;
    } else {
      binary.push(value);
      addChunk(`${formatBytes(value.length)}`);
    }
    summary([`${state.status}`, countOf(state), formatBytes(state.bytes), "streaming…"]);
  }
  if (sse) {
    events.feed(decoder.decode() + "\n\n");
    if (!events.done && !state.failed) {
      state.failed = true;
      const message = "the event stream ended before its last event (the one with the id [DONE])";
      showError({ error: "incomplete_stream", message });
    }
  } else if (binary.length) {
    const bytes = new Uint8Array(await new Blob(binary).arrayBuffer());
    if (media.startsWith("audio/") || isWav(bytes)) recording = new Blob([bytes]);
    else if (media.startsWith("image/")) showWhole(bytes, media);
  }
  if (!recording && clips.length) recording = joinWavs(clips) || new Blob([clips.at(-1)]);
  if (recording) {
    const player = $("player");
    player.src = blobUrl([recording], "audio/wav");
    player.hidden = false;
  }
}

function countOf(state) {
  return `${state.chunks} ${state.events ? "events" : "chunks"}`;
}

async function runCall(call) {
  if (running) running.abort();
  resetAnswer();
  const controller = new AbortController();
  running = controller;
  $("stop").disabled = false;
  document.body.dataset.state = "running";
  const started = performance.now();
  const state = { status: "", bytes: 0, chunks: 0, failed: false };
  let requestId = "";
  try {
    const [url, init] = requestFor(call);
    summary(["sending…"]);
    const sent = await owtFetch(url, { ...init, signal: controller.signal });
    const response = await pastTheBuild(sent, (p) =>
      summary(["building its environment", p.phase, p.detail, `${p.elapsed} s`]),
    );
    const firstByte = performance.now() - started;
    requestId = response.headers.get("x-request-id") || "";
    state.status = `${response.status} ${response.statusText}`.trim();
    document.body.dataset.status = String(response.status);
    const media = mediaOf(response);
    const streamed = !response.headers.has("content-length") && response.ok;
    lastShape = media === "text/event-stream" ? "sse" : streamed ? "stream" : "whole";
    if (!response.ok) {
      const text = await response.text();
      const payload = parseMaybe(text);
      showError(typeof payload === "object" && payload ? payload : { message: text }, response.status);
    } else if (streamed) {
      await readStream(response, media, state);
    } else {
      const bytes = new Uint8Array(await response.arrayBuffer());
      state.bytes = bytes.length;
      showWhole(bytes, media);
    }
    const cache = response.headers.get("x-owt-cache") === "hit" ? "from the cache" : "";
    summary([
      state.status,
      `${Math.round(performance.now() - started)} ms`,
      `first byte ${Math.round(firstByte)} ms`,
      formatBytes(state.bytes),
      state.chunks ? countOf(state) : "",
      cache,
      requestId && `request ${requestId}`,
    ]);
    if (!state.failed && response.ok) document.body.dataset.state = "done";
    else document.body.dataset.state = "failed";
  } catch (err) {
    if (controller.signal.aborted) {
      summary([state.status, "stopped"]);
      document.body.dataset.state = "stopped";
    } else if (state.failed) {
      // An SSE stream sent its `event: error` (already shown) and then ended without its
      // final chunk, as every failed stream does: the error shown is the one that explains.
      document.body.dataset.state = "failed";
      summary([state.status, `${Math.round(performance.now() - started)} ms`, requestId && `request ${requestId}`]);
    } else {
      // A stream that failed after it started ends without its final chunk: fetch rejects.
      const midway = state.status !== "";
      showError({
        error: midway ? "stream_broken" : "network_error",
        message: midway
          ? `the answer stopped after ${formatBytes(state.bytes)}: the server ended it early (${err.message})`
          : String(err.message || err),
        request_id: requestId || undefined,
      });
      summary([state.status, `${Math.round(performance.now() - started)} ms`, requestId && `request ${requestId}`]);
    }
  } finally {
    if (running === controller) running = null;
    $("stop").disabled = true;
    showSnippet();
    loadStatus().catch(() => {}); // warm adaptors, cache and workers after this call
  }
}

// ---------------------------------------------------------------- copy as
let snippetLang = "curl";
let snippetCall = null;

function showSnippet(call) {
  if (call) snippetCall = call;
  if (!snippetCall) {
    try {
      snippetCall = formCall();
    } catch (err) {
      $("snippet").textContent = String(err.message);
      return;
    }
  }
  snippetCall.answer = lastShape;
  snippetCall.credential = credential();
  $("snippet").dataset.lang = snippetLang;
  $("snippet").textContent = snippet(snippetLang, snippetCall);
  for (const button of document.querySelectorAll(".copy button[data-lang]")) {
    button.classList.toggle("on", button.dataset.lang === snippetLang);
  }
}

async function copySnippet() {
  const text = $("snippet").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copied").textContent = "copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("snippet"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $("copied").textContent = "selected: press Ctrl+C";
  }
}

// ---------------------------------------------------------------- endpoints
function inputFor(param) {
  const schema = param.schema || {};
  let input;
  if (schema.type === "boolean" || Array.isArray(schema.enum)) {
    input = document.createElement("select");
    const values = schema.type === "boolean" ? ["true", "false"] : schema.enum.map(String);
    const first = schema.default !== undefined ? `(${schema.default})` : "(default)";
    for (const v of ["", ...values]) input.append(new Option(v || first, v));
  } else {
    input = document.createElement("input");
    if (schema.type === "integer" || schema.type === "number") {
      input.type = "number";
      input.step = schema.type === "integer" ? "1" : "any";
    }
    if (schema.default !== undefined && schema.default !== null) input.placeholder = String(schema.default);
    if (param.required) input.required = true;
  }
  input.name = param.name;
  return input;
}

function endpointForm(path, operation, summaryText) {
  const form = document.createElement("form");
  form.className = "endpoint";
  form.dataset.path = path;
  const title = document.createElement("h3");
  title.textContent = path;
  const about = document.createElement("p");
  about.className = "muted";
  about.textContent = summaryText || "";
  form.append(title, about);
  // The call's own options (timeout, caching) fold away below its arguments.
  const options = document.createElement("details");
  options.className = "options";
  const optionsTitle = document.createElement("summary");
  optionsTitle.textContent = "call options";
  options.append(optionsTitle);
  for (const param of operation.parameters || []) {
    if (param.in !== "query") continue;
    const label = document.createElement("label");
    label.append(`${param.name}${param.required ? " *" : ""} `, inputFor(param));
    const hint = document.createElement("span");
    hint.className = "muted";
    hint.textContent = param.description || "";
    label.append(hint);
    (param["x-owt-option"] ? options : form).append(label);
  }
  if (options.children.length > 1) form.append(options);
  const go = document.createElement("button");
  go.type = "submit";
  go.textContent = `Call ${path}`;
  form.append(go);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const kwargs = {};
    for (const [name, value] of new FormData(form)) if (value !== "") kwargs[name] = value;
    const call = { kind: "endpoint", method: "GET", path, kwargs, options: {}, origin: location.origin };
    call.credential = credential();
    showSnippet(call);
    runCall(call).then(() => showSnippet(call));
    $("call").scrollIntoView();
  });
  return form;
}

async function loadEndpoints() {
  const response = await owtFetch("/_owt/openapi.json");
  const box = $("endpoint-forms");
  box.replaceChildren();
  if (!response.ok) {
    box.textContent = `could not read /_owt/openapi.json: HTTP ${response.status}`;
    return;
  }
  const spec = await response.json();
  for (const [path, item] of Object.entries(spec.paths || {})) {
    if (path === "/" || path.includes("{")) continue; // the generic call, not an endpoint
    const operation = item.get || item.post;
    if (operation) box.append(endpointForm(path, operation, item.summary));
  }
  if (!box.children.length) {
    box.innerHTML = "<p class=muted>None yet: <code>owt serve --mount NAME=file.py</code>.</p>";
  }
}

// ---------------------------------------------------------------- status
function table(rows, head) {
  const t = document.createElement("table");
  const tr = document.createElement("tr");
  for (const h of head) {
    const th = document.createElement("th");
    th.textContent = h;
    tr.append(th);
  }
  t.append(tr);
  for (const row of rows) {
    const r = document.createElement("tr");
    for (const cell of row) {
      const td = document.createElement("td");
      td.textContent = cell === undefined || cell === null ? "" : String(cell);
      r.append(td);
    }
    t.append(r);
  }
  return t;
}

function heading(text) {
  const h = document.createElement("h3");
  h.textContent = text;
  return h;
}

function workerRows(name, env) {
  if (Array.isArray(env.workers)) {
    return env.workers.map((w) => [name, w.pid, w.busy, w.calls, w.rss ? formatBytes(w.rss) : "", w.uptime]);
  }
  if (Array.isArray(env.pools)) {
    return env.pools.flatMap((pool) => (pool.actors || []).map((a) =>
      [name, `actor ${a.pid ?? ""} ${a.node_ip ?? ""}${a.up === false ? " (down)" : ""}`, a.busy, a.calls, "", a.uptime]));
  }
  if (env.threads) return [[name, "threads", `${env.threads.busy}/${env.threads.max}`, "", "", ""]];
  return [[name, env.executor, "", "", "", ""]];
}

function renderStatus(status) {
  const panel = $("status-panel");
  panel.replaceChildren();
  const envs = Object.entries(status.environments || {});
  $("env-names").replaceChildren(...envs.map(([name]) => new Option(name)));
  panel.append(heading("Environments and workers"));
  panel.append(table(
    envs.map(([name, env]) => [name, env.executor, env.python || env.version || "", env.replaced ?? "", env.queued ?? ""]),
    ["environment", "executor", "python", "replaced", "queued"],
  ));
  panel.append(table(envs.flatMap(([name, env]) => workerRows(name, env)), ["environment", "worker", "busy", "calls", "memory", "uptime s"]));
  const warm = envs.flatMap(([name, env]) => (env.adaptors || []).map((a) => [name, (a.sha256 || "").slice(0, 12), a.shape, (a.functions || []).join(", ")]));
  panel.append(heading(`Warm adaptors (${warm.length})`));
  panel.append(table(warm, ["environment", "sha256", "shape", "functions"]));
  const cache = status.cache || {};
  panel.append(heading("Cache"));
  panel.append(table([[cache.entries, formatBytes(cache.bytes || 0), formatBytes(cache.max_bytes || 0), cache.hits, cache.misses, cache.evictions]],
    ["entries", "bytes", "bound", "hits", "misses", "evictions"]));
  const builds = Object.entries((status.requirements && status.requirements.environments) || {});
  panel.append(heading(`Requirement environments (${builds.length})`));
  panel.append(table(builds.map(([key, env]) => [key, (env.requirements || []).join(" "), env.state, env.phase || "", env.elapsed ?? env.build_seconds ?? "", env.last_line || env.error || ""]),
    ["key", "requirements", "state", "phase", "seconds", "log tail"]));
  const c = status.concurrency || {};
  panel.append(heading("Server"));
  panel.append(table([[status.version, status.codes, c.running, c.waiting, c.rejected, (status.endpoints || []).join(", ")]],
    ["version", "codes held", "running", "waiting", "rejected", "endpoints"]));
}

async function loadStatus() {
  const response = await owtFetch("/_owt/status");
  if (response.ok) renderStatus(await response.json());
}

// ---------------------------------------------------------------- wiring
function loadExample(name) {
  const example = EXAMPLES[name];
  $("code").value = example.code;
  $("args").value = JSON.stringify(example.args);
  snippetCall = null;
  showSnippet();
}

function start() {
  takeTokenFromUrl();
  const select = $("examples");
  for (const [name, example] of Object.entries(EXAMPLES)) select.append(new Option(example.label, name));
  select.addEventListener("change", () => loadExample(select.value));
  loadExample("echo");
  const run = () => {
    let call;
    try {
      call = formCall();
    } catch (err) {
      resetAnswer();
      showError({ error: "bad_arguments", message: err.message });
      return;
    }
    snippetCall = call;
    runCall(call);
  };
  $("run").addEventListener("click", run);
  $("code").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) run();
  });
  $("stop").addEventListener("click", () => running && running.abort());
  for (const input of document.querySelectorAll(".editor input, .editor textarea, .editor select")) {
    if (input.id !== "examples") input.addEventListener("input", () => { snippetCall = null; showSnippet(); });
  }
  for (const button of document.querySelectorAll(".copy button[data-lang]")) {
    button.addEventListener("click", () => { snippetLang = button.dataset.lang; showSnippet(); });
  }
  $("copy").addEventListener("click", copySnippet);
  $("refresh").addEventListener("click", loadStatus);
  // With a credential, the header's links to owt's own pages fetch with it (a plain link
  // would open without it: 401) and open what came back.
  for (const link of document.querySelectorAll('nav a[href^="/_owt/"]')) {
    link.addEventListener("click", (event) => {
      if (!authorization()) return;
      event.preventDefault();
      const opened = window.open("", "_blank"); // now, while the click allows a new tab
      owtFetch(link.getAttribute("href"))
        .then((response) => response.blob())
        .then((blob) => { if (opened) opened.location = URL.createObjectURL(blob); });
    });
  }
  loadStatus().then(loadEndpoints);
  setInterval(() => {
    if ($("auto-refresh").checked && !document.hidden && !asking) loadStatus();
  }, 2000);
  document.body.dataset.ready = "1";
}

start();
