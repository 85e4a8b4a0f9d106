// Tests of owt.js against a real `owt serve` started here (OWT_BIN, else the repo's .venv).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { OwtError, call, encode, encodeText, endpoint, events, sha256, stream, url } from "../owt.js";

const OWT_BIN = process.env.OWT_BIN || fileURLToPath(new URL("../../../.venv/bin/owt", import.meta.url));

let server;
let base;

function startServer(timeoutMs = 30000, args = ["--timeout", "20"], env = process.env) {
  const child = spawn(OWT_BIN, ["serve", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`owt did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`owt exited with ${code} before it was ready`));
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = /^owt serving on (\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
  });
}

function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
    child.removeAllListeners("exit");
    child.on("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

// A fetch that records what went over the wire.
function recordingFetch() {
  const sent = [];
  const fetchFn = (address, init = {}) => {
    sent.push({ url: address, method: init.method, body: init.body ? JSON.parse(init.body) : null });
    return fetch(address, init);
  };
  return { sent, fetchFn };
}

before(async () => {
  ({ child: server, url: base } = await startServer());
});

after(async () => {
  await stopServer(server);
});

describe("call", () => {
  test("plain call returns text", async () => {
    assert.equal(await call(base, "def run(): return 'hi'"), "hi");
  });

  test("kwargs reach the adaptor", async () => {
    const code = "def run(name): return f'Hello, {name}!'";
    assert.equal(await call(base, code, { name: "owt" }, { sent: new Set() }), "Hello, owt!");
  });

  test("results decode by content type", async () => {
    const opts = { sent: new Set() };
    assert.deepEqual(await call(base, "def run(n): return {'n': n, 'l': [1, 2]}", { n: 3 }, opts), {
      n: 3,
      l: [1, 2],
    });
    assert.deepEqual(await call(base, "def run(): return b'\\x00\\x01'", {}, opts), new Uint8Array([0, 1]));
    assert.equal(await call(base, "def run(): return None", {}, opts), null);
    assert.deepEqual(await call(base, "def run(): return ({'i': i} for i in range(2))", {}, opts), [
      { i: 0 },
      { i: 1 },
    ]);
  });

  test("GET sends the call in the query, fnName picks the function", async () => {
    const { sent, fetchFn } = recordingFetch();
    const code = "def hello(name): return 'hi ' + name";
    const result = await call(base + "/some/path", code, { name: "ü" }, {
      method: "GET",
      fnName: "hello",
      fetch: fetchFn,
      sent: new Set(),
    });
    assert.equal(result, "hi ü");
    assert.equal(sent[0].method, "GET");
    const query = new URL(sent[0].url).searchParams;
    assert.equal(query.get("fn_name"), "hello");
    assert.ok(query.get("code_b64"));
  });

  test("url() makes a GET URL that runs the call", async () => {
    const address = url(base + "/hello", "def run(name): return name.upper()", { name: "owt" });
    const response = await fetch(address);
    assert.equal(await response.text(), "OWT");
  });

  test("url() carries a token for servers started with --token", async () => {
    const guarded = await startServer(30000, ["--token", "s3cret"]);
    try {
      const code = "def run(request): return request.full_path";
      const address = url(guarded.url + "/t", code, {}, { token: "s3cret" });
      assert.equal(new URL(address).searchParams.get("token"), "s3cret");
      const response = await fetch(address);
      assert.equal(response.status, 200);
      assert.ok(!(await response.text()).includes("s3cret")); // taken out before the adaptor
      const refused = await fetch(url(guarded.url + "/t", code));
      assert.equal(refused.status, 401);
    } finally {
      await stopServer(guarded.child);
    }
  });

  test("encode() is the JSON body", () => {
    const body = encode("def run(): pass", { a: 1 }, { fields: { use_cache: true } });
    assert.equal(Buffer.from(body.code_b64, "base64").toString(), "def run(): pass");
    assert.deepEqual(body.kwargs, { a: 1 });
    assert.equal(body.use_cache, true);
  });
});

/** Register `code` as the endpoint `name` for the length of `body()`. */
async function withEndpoint(name, code, body) {
  const put = await fetch(`${base}/_owt/endpoints/${name}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code_b64: encodeText(code) }),
  });
  assert.equal(put.status, 201);
  try {
    await body();
  } finally {
    await fetch(`${base}/_owt/endpoints/${name}`, { method: "DELETE" });
  }
}

/** The hex SHA-256 of some bytes, as the adaptors under test report it. */
async function expected(data) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

describe("endpoints", () => {
  test("arguments named like call fields reach the function", async () => {
    const code = "def run(url: str, timeout: float = 1.0, env: str = 'dev'):\n    return [url, timeout, env]\n";
    await withEndpoint("js-fetch", code, async () => {
      for (const method of ["POST", "GET"]) {
        const got = await endpoint(`${base}/js-fetch`, { url: "u", timeout: 2.5, env: "prod" }, { method });
        assert.deepEqual(got, ["u", 2.5, "prod"], method);
      }
      // the call's own options go in options.fields
      await assert.rejects(
        endpoint(`${base}/js-fetch`, { url: "u" }, { fields: { timeout: 1e-9 } }),
        (err) => err instanceof OwtError && err.status === 504,
      );
    });
  });
});

describe("errors", () => {
  test("an adaptor error throws OwtError with its message", async () => {
    await assert.rejects(call(base, "def run(): raise ValueError('boom')"), (err) => {
      assert.ok(err instanceof OwtError);
      assert.equal(err.status, 500);
      assert.equal(err.kind, "adaptor_error");
      assert.match(err.message, /boom/);
      assert.match(err.traceback, /ValueError: boom/);
      return true;
    });
  });

  test("a syntax error is a compile_error", async () => {
    await assert.rejects(call(base, "def run(:"), (err) => {
      assert.equal(err.status, 422);
      assert.equal(err.kind, "compile_error");
      return true;
    });
  });

  test("an unreachable server is OwtError connection_failed naming it, from every request", async () => {
    const nowhere = "http://127.0.0.1:1";
    const code = "def run(): return 1";
    const attempts = {
      call: () => call(nowhere, code, {}),
      get: () => call(`${nowhere}/p`, code, {}, { method: "GET" }),
      stream: () => stream(nowhere, code).next(),
      events: () => events(nowhere, code).next(),
      upload: () => call(nowhere, code, {}, { body: "raw" }),
      endpoint: () => endpoint(`${nowhere}/e`, { a: 1 }),
      endpointGet: () => endpoint(`${nowhere}/e`, { a: 1 }, { method: "GET" }),
      endpointUpload: () => endpoint(`${nowhere}/e`, {}, { body: "raw" }),
      endpointFile: () => endpoint(`${nowhere}/e`, { f: new Uint8Array([1]) }),
    };
    for (const [name, attempt] of Object.entries(attempts)) {
      await assert.rejects(attempt(), (err) => {
        assert.ok(err instanceof OwtError, `${name}: ${err}`);
        assert.equal(err.kind, "connection_failed", name);
        assert.equal(err.status, 0, name);
        assert.match(err.message, /^connection_failed: cannot reach http:\/\/127\.0\.0\.1:1: .*owt serve/, name);
        assert.ok(err.cause instanceof TypeError, name);
        return true;
      });
    }
  });

  test("empty code is refused before sending", async () => {
    for (const code of ["", " \n", "\ufeff"]) {
      await assert.rejects(call(base, code), { name: "TypeError", message: /the code is empty/ });
      assert.throws(() => url(base, code), { name: "TypeError", message: /the code is empty/ });
    }
  });

  test("the caller's own abort stays an AbortError", async () => {
    await assert.rejects(
      call(base, "def run(): return 1", {}, { signal: AbortSignal.abort() }),
      (err) => err.name === "AbortError",
    );
  });
});

describe("streaming", () => {
  test("stream yields chunks as they are produced", async () => {
    const code = [
      "import time",
      "def run(n):",
      "    for i in range(n):",
      "        yield f'{i};'",
      "        time.sleep(0.4)",
    ].join("\n");
    const start = performance.now();
    const arrivals = [];
    const chunks = [];
    for await (const chunk of stream(base, code, { n: 3 })) {
      arrivals.push(performance.now() - start);
      chunks.push(chunk);
    }
    assert.equal(chunks.join(""), "0;1;2;");
    assert.ok(chunks.length >= 2, `chunks: ${JSON.stringify(chunks)}`);
    assert.equal(typeof chunks[0], "string");
    assert.ok(arrivals[arrivals.length - 1] - arrivals[0] >= 600, `arrivals: ${arrivals}`);
  });

  test("binary streams yield Uint8Arrays", async () => {
    const parts = [];
    for await (const chunk of stream(base, "def run():\n    yield b'ab'\n    yield b'cd'")) {
      assert.ok(chunk instanceof Uint8Array);
      parts.push(Buffer.from(chunk).toString());
    }
    assert.equal(parts.join(""), "abcd");
  });

  test("events parses SSE data up to [DONE]", async () => {
    const code = "from owt.lib.stream import sse\ndef run():\n    return sse(['a', {'b': 1}, 'two\\nlines'])";
    const received = [];
    for await (const event of events(base, code)) received.push(event);
    assert.deepEqual(received, ["a", { b: 1 }, "two\nlines"]);
  });

  test("events() of an answer that is no event stream throws, naming its type", async () => {
    const answers = [
      ["def run(): return {'a': 1}", "application/json"],
      ["def run(): return 'plain'", "text/plain; charset=utf-8"],
      ["def run(): return None", null],
    ];
    for (const [code, type] of answers) {
      await assert.rejects(events(base, code).next(), (err) => {
        assert.ok(err instanceof OwtError);
        assert.equal(err.kind, "not_event_stream");
        assert.equal(err.status, 200);
        assert.equal(err.payload.content_type, type);
        assert.match(err.message, new RegExp(`its content type is ${type || "none"}`));
        return true;
      });
    }
  });

  test("events over GET (what EventSource would do)", async () => {
    const code = "from owt.lib.stream import sse\ndef run(n):\n    return sse(range(n))";
    const received = [];
    for await (const event of events(base, code, { n: 3 }, { method: "GET" })) received.push(event);
    assert.deepEqual(received, [0, 1, 2]);
  });
});

describe("code by hash", () => {
  test("the second call sends the hash, not the code", async () => {
    const { sent, fetchFn } = recordingFetch();
    const options = { fetch: fetchFn, sent: new Set() };
    const code = "def run(x): return x * 2  # hash reuse";
    assert.equal(await call(base, code, { x: 2 }, options), "4");
    assert.equal(await call(base, code, { x: 5 }, options), "10");
    assert.equal(sent.length, 2);
    assert.ok(sent[0].body.code_b64);
    assert.equal(sent[0].body.code_sha256, undefined);
    assert.equal(sent[1].body.code_b64, undefined);
    assert.equal(sent[1].body.code_sha256, await sha256(code));
    assert.deepEqual(sent[1].body.kwargs, { x: 5 });
  });

  test("unknown_code makes the client send the code again", async () => {
    const { sent, fetchFn } = recordingFetch();
    const code = `def run(): return 'fresh ${Date.now()}'`;
    const hash = await sha256(code);
    const memory = new Set([hash]); // believes the server has it; the server does not
    const result = await call(base, code, {}, { fetch: fetchFn, sent: memory });
    assert.match(result, /^fresh /);
    assert.equal(sent.length, 2);
    assert.equal(sent[0].body.code_sha256, hash);
    assert.equal(sent[0].body.code_b64, undefined);
    assert.ok(sent[1].body.code_b64);
    assert.ok(memory.has(hash));
  });

  test("by default the memory is per server origin", async () => {
    const { sent, fetchFn } = recordingFetch();
    const code = "def run(): return 'shared memory'";
    await call(base, code, {}, { fetch: fetchFn });
    await call(base + "/other/path", code, {}, { fetch: fetchFn });
    assert.ok(sent[0].body.code_b64);
    assert.equal(sent[1].body.code_sha256, await sha256(code));
  });
});

describe("source text", () => {
  test("a UTF-8 BOM and CRLF line ends run; the hash is of the text after the BOM", async () => {
    const { sent, fetchFn } = recordingFetch();
    const options = { fetch: fetchFn, sent: new Set() };
    const code = "\ufeffdef run(name):\r\n    return 'Hello, ' + name\r\n";
    assert.equal(await call(base, code, { name: "js" }, options), "Hello, js");
    assert.equal(await call(base, code, { name: "again" }, options), "Hello, again");
    assert.equal(sent.length, 2); // the second call went by hash, and the server knew it
    assert.equal(sent[1].body.code_sha256, await sha256(code.slice(1)));
  });
});

describe("a stream that fails after it started", () => {
  const midway = [
    "def run():",
    "    for i in range(3):",
    "        yield f'chunk {i};'",
    "    raise ValueError('midway')",
  ].join("\n");
  const sseMidway = [
    "def items():",
    "    yield {'n': 1}",
    "    raise ValueError('sse midway')",
    "def run():",
    "    return sse(items())",
  ].join("\n");

  test("stream() throws OwtError after the chunks that came", async () => {
    const chunks = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream(base, midway)) chunks.push(chunk);
      })(),
      (err) => {
        assert.ok(err instanceof OwtError);
        assert.equal(err.kind, "stream_failed");
        return true;
      },
    );
    assert.equal(chunks.join(""), "chunk 0;chunk 1;chunk 2;");
  });

  test("call() throws OwtError", async () => {
    await assert.rejects(call(base, midway), (err) => err instanceof OwtError && err.kind === "stream_failed");
    await assert.rejects(call(base, sseMidway), (err) => {
      assert.equal(err.kind, "adaptor_error");
      assert.match(err.traceback, /sse midway/);
      return true;
    });
  });

  test("events() throws the error the server sent as event: error", async () => {
    const received = [];
    await assert.rejects(
      (async () => {
        for await (const event of events(base, sseMidway)) received.push(event);
      })(),
      (err) => {
        assert.ok(err instanceof OwtError);
        assert.equal(err.kind, "adaptor_error");
        assert.equal(err.message, "adaptor_error (200): ValueError: sse midway");
        return true;
      },
    );
    assert.deepEqual(received, [{ n: 1 }]);
  });
});

describe("binary arguments", () => {
  // A tiny PNG's bytes (the header of a real image and some pixels).
  const png = new Uint8Array([
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde, 0, 1, 2, 3, 250, 251, 252, 253, 254, 255,
  ]);
  const code = [
    "import hashlib",
    "def run(image, label='x'):",
    "    return {'size': len(image), 'sha256': hashlib.sha256(image).hexdigest(), 'label': label}",
  ].join("\n");


  test("a Uint8Array arrives as bytes", async () => {
    const result = await call(base, code, { image: png, label: "u8" });
    assert.deepEqual(result, { size: png.length, sha256: await expected(png), label: "u8" });
  });

  test("a Blob, a File and an ArrayBuffer arrive as bytes", async () => {
    const sha = await expected(png);
    const blob = new Blob([png], { type: "image/png" });
    assert.equal((await call(base, code, { image: blob })).sha256, sha);
    const file = new File([png], "cat.png", { type: "image/png" });
    assert.equal((await call(base, code, { image: file })).sha256, sha);
    assert.equal((await call(base, code, { image: png.buffer.slice(0) })).size, png.length);
  });

  test("a GET with bytes is sent as a multipart POST", async () => {
    const result = await call(base, code, { image: png }, { method: "GET" });
    assert.equal(result.size, png.length);
  });
});

describe("uploads (options.body)", () => {
  const code = [
    "import hashlib",
    "def run(request, label='x', extra=None):",
    "    digest, chunks = hashlib.sha256(), 0",
    "    for chunk in request.stream():",
    "        digest.update(chunk)",
    "        chunks += 1",
    "    return {'sha256': digest.hexdigest(), 'chunks': chunks, 'label': label, 'extra': extra,",
    "            'type': request.content_type, 'kind': type(request).__name__}",
  ].join("\n");
  const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);


  test("bytes and a Blob stream to the adaptor, with its arguments and type", async () => {
    const sha = await expected(bytes);
    const got = await call(base, code, { label: "u8" }, { body: bytes });
    assert.deepEqual(got, {
      sha256: sha, chunks: got.chunks, label: "u8", extra: null, type: "application/octet-stream", kind: "StreamedRequest",
    });
    assert.ok(got.chunks > 1);
    const blob = new Blob([bytes], { type: "audio/wav" });
    const again = await call(base, code, {}, { body: blob });
    assert.equal(again.sha256, sha);
    assert.equal(again.type, "audio/wav");
  });

  test("a ReadableStream is sent as it is read, with the code", async () => {
    const half = bytes.length / 2;
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(bytes.subarray(0, half));
        controller.enqueue(bytes.subarray(half));
        controller.close();
      },
    });
    const got = await call(base, code, {}, { body, contentType: "text/plain" });
    assert.equal(got.sha256, await expected(bytes));
    assert.equal(got.type, "text/plain");
  });

  test("an endpoint takes an upload, its arguments in the query", async () => {
    await withEndpoint("js-upload", code, async () => {
      const got = await endpoint(`${base}/js-upload`, { label: "take" }, { body: bytes, contentType: "audio/wav" });
      assert.equal(got.sha256, await expected(bytes));
      assert.equal(got.label, "take");
      assert.equal(got.type, "audio/wav");
      // The arguments keep their JSON types; `method: "GET"` with a body is still a POST.
      const typed = await endpoint(`${base}/js-upload`, { extra: [1, true] }, { method: "GET", body: "ab" });
      assert.deepEqual(typed.extra, [1, true]);
      assert.equal(typed.sha256, await expected(new TextEncoder().encode("ab")));
    });
  });
});

describe("environment builds", () => {
  let built;
  let folder;

  before(async () => {
    // Wheels made by the Python tests' helper, found offline through find-links.
    folder = mkdtempSync(join(tmpdir(), "owt-js-"));
    const python = join(dirname(OWT_BIN), "python");
    const tests = fileURLToPath(new URL("../../../tests", import.meta.url));
    const script = [
      "import sys, pathlib",
      `sys.path.insert(0, ${JSON.stringify(tests)})`,
      "from test_builds import make_wheel",
      `make_wheel(pathlib.Path(${JSON.stringify(folder)}), "owt_js1", {"owt_js1.py": b"ANSWER = 1\\n"})`,
    ].join("\n");
    const made = spawnSync(python, ["-c", script], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    const env = {
      ...process.env,
      UV_FIND_LINKS: folder,
      UV_NO_INDEX: "1",
      UV_OFFLINE: "1",
      PIP_FIND_LINKS: folder,
      PIP_NO_INDEX: "1",
    };
    built = await startServer(30000, ["--timeout", "20", "--state-dir", join(folder, "state")], env);
  });

  after(async () => {
    await stopServer(built.child);
    rmSync(folder, { recursive: true, force: true });
  });

  test("progress events come before the result", async () => {
    const code = [
      "import owt_js1",
      "from owt.lib.stream import sse",
      "def run():",
      "    return sse([owt_js1.ANSWER, owt_js1.ANSWER + 1])",
    ].join("\n");
    const seen = [];
    const options = { fields: { requirements: ["owt-js1"] }, onProgress: (e) => seen.push(e) };
    const got = [];
    for await (const item of events(built.url, code, {}, options)) got.push(item);
    assert.deepEqual(got, [1, 2]);
    assert.ok(seen.length > 0 && seen.every((e) => typeof e.phase === "string"));
    const count = seen.length;
    assert.deepEqual(await call(built.url, "import owt_js1\ndef run(): return owt_js1.ANSWER", {}, options), "1");
    assert.equal(seen.length, count); // warm: nothing to show
  });
});
