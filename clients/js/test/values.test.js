// Every kind of argument value reaches the function as it was sent, by every road of owt.js:
// an endpoint by POST (JSON), GET (the query) and a multipart POST (beside bytes), and a
// generic call by GET and POST. A real `owt serve` (OWT_BIN, else the repo's .venv).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { call, encodeText, endpoint, queryArguments, url } from "../owt.js";

const OWT_BIN = process.env.OWT_BIN || fileURLToPath(new URL("../../../.venv/bin/owt", import.meta.url));

// One parameter per kind; the function answers each argument it got as [type name, value].
const KINDS = `
from dataclasses import asdict, dataclass
from typing import Optional

@dataclass
class Point:
    x: int
    y: int

def run(a: int, b: list[str] = [], f: float = 0.0, ok: bool = False, s: str = "-",
        n: Optional[int] = 5, opt_s: Optional[str] = "-", xs: list[int] = [],
        fs: list[float] = [], flags: list[bool] = [], d: dict = {},
        p: Optional[Point] = None, nested: list[list[int]] = [], data: bytes = b"",
        raw=None) -> dict:
    got = dict(locals())
    if isinstance(got["p"], Point):
        got["p"] = asdict(got["p"])
    got["data"] = list(got["data"])
    return {k: [type(v).__name__, v] for k, v in got.items()}
`;
const UNTYPED = `
def run(**kw):
    return {k: [type(v).__name__, list(v) if isinstance(v, bytes) else v] for k, v in kw.items()}
`;

// [case, arguments, what the function gets: name → [type name, value]].
const CASES = [
  ["string", { s: "héllo & =x?#" }, { s: ["str", "héllo & =x?#"] }],
  ["empty string", { s: "" }, { s: ["str", ""] }],
  ["integer", { a: 7 }, { a: ["int", 7] }],
  ["negative integer", { a: -3 }, { a: ["int", -3] }],
  ["bigint", { a: 12n }, { a: ["int", 12] }],
  ["huge whole number to int", { a: 1e21 }, { a: ["int", 1e21] }],
  ["number", { f: 0.1 }, { f: ["float", 0.1] }],
  ["whole number to float", { f: 2 }, { f: ["float", 2] }],
  ["huge number", { f: 1e300 }, { f: ["float", 1e300] }],
  ["tiny number", { f: -1.5e-300 }, { f: ["float", -1.5e-300] }],
  ["true", { ok: true }, { ok: ["bool", true] }],
  ["false", { ok: false }, { ok: ["bool", false] }],
  ["null for int", { n: null }, { n: ["NoneType", null] }],
  ["null for str", { opt_s: null }, { opt_s: ["NoneType", null] }],
  ["undefined is left out", { n: undefined }, { n: ["int", 5] }],
  ["list of strings", { b: ["q", "r"] }, { b: ["list", ["q", "r"]] }],
  ["list of one", { b: ["q"] }, { b: ["list", ["q"]] }],
  ["list with blanks", { b: ["", "x,y"] }, { b: ["list", ["", "x,y"]] }],
  ["empty list", { b: [] }, { b: ["list", []] }],
  ["list of integers", { xs: [1, -2, 3] }, { xs: ["list", [1, -2, 3]] }],
  ["list of numbers", { fs: [0.5, 1e300] }, { fs: ["list", [0.5, 1e300]] }],
  ["list of booleans", { flags: [true, false] }, { flags: ["list", [true, false]] }],
  ["object", { d: { k: [1, { z: null }] } }, { d: ["dict", { k: [1, { z: null }] }] }],
  ["record", { p: { x: 1, y: 2 } }, { p: ["dict", { x: 1, y: 2 }] }],
  ["nested list", { nested: [[1, 2], [3]] }, { nested: ["list", [[1, 2], [3]]] }],
  ["mixed list", { raw: [1, "a", null] }, { raw: ["list", [1, "a", null]] }],
];
const ROADS = ["POST", "GET", "GET beside bytes"];
const BYTES = new Uint8Array([0, 255, 1]);

let server;
let base;

before(async () => {
  server = spawn(OWT_BIN, ["serve", "--port", "0", "--timeout", "20"], { stdio: ["ignore", "pipe", "inherit"] });
  base = await new Promise((resolve, reject) => {
    server.on("exit", (code) => reject(new Error(`owt exited with ${code} before it was ready`)));
    createInterface({ input: server.stdout }).on("line", (line) => {
      const match = /^owt serving on (\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
  });
  for (const [name, code] of [["js-kinds", KINDS], ["js-any", UNTYPED]]) {
    const put = await fetch(`${base}/_owt/endpoints/${name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code_b64: encodeText(code) }),
    });
    assert.equal(put.status, 201);
  }
});

after(async () => {
  server.removeAllListeners("exit");
  const exited = new Promise((resolve) => server.on("exit", resolve));
  server.kill("SIGTERM");
  await exited;
});

function send(name, road, kwargs) {
  if (road === ROADS[2]) return endpoint(`${base}/${name}`, { ...kwargs, data: BYTES }, { method: "GET" });
  return endpoint(`${base}/${name}`, kwargs, { method: road });
}

describe("an endpoint gets each kind as it was sent", () => {
  for (const road of ROADS) {
    for (const [name, kwargs, expected] of CASES) {
      test(`${name}, ${road}`, async () => {
        const got = await send("js-kinds", road, { a: 1, ...kwargs });
        for (const [key, value] of Object.entries(expected)) assert.deepEqual(got[key], value);
        assert.deepEqual(got.data[1], road === ROADS[2] ? [0, 255, 1] : []);
      });
    }
    for (const value of [null, [], ["q"], ["q", "r"], { k: [1] }, [[1], []], "", "text"]) {
      test(`${JSON.stringify(value)} to an untyped parameter, ${road}`, async () => {
        const got = await send("js-any", road, { v: value });
        const kind = value === null ? "NoneType" : Array.isArray(value) ? "list" : typeof value === "string" ? "str" : "dict";
        assert.deepEqual(got.v, [kind, value]);
      });
    }
    for (const bad of [NaN, Infinity, -Infinity, [1.5, NaN]]) {
      test(`${String(bad)} is refused before sending, ${road}`, async () => {
        await assert.rejects(send("js-kinds", road, { a: 1, f: bad }), (err) =>
          err instanceof TypeError && /NaN and Infinity cannot be sent \(argument "f"\)/.test(err.message),
        );
      });
    }
  }

  test("bytes alone make a multipart POST, as the README says (#2)", async () => {
    const code = "def run(data: bytes) -> bytes: return data[::-1]";
    const put = await fetch(`${base}/_owt/endpoints/js-byt`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code_b64: encodeText(code) }),
    });
    assert.equal(put.status, 201);
    for (const data of [BYTES, BYTES.buffer.slice(0), new Blob([BYTES]), new DataView(BYTES.buffer)]) {
      assert.deepEqual(await endpoint(`${base}/js-byt`, { data }), new Uint8Array([1, 255, 0]));
    }
  });

  test("bytes inside a list or beside an upload body are refused, not sent as objects", async () => {
    await assert.rejects(endpoint(`${base}/js-any`, { v: [BYTES] }), /binary value cannot be sent inside JSON \(argument "v"\)/);
    await assert.rejects(endpoint(`${base}/js-any`, { v: BYTES }, { body: "x" }), /binary value/);
  });

  test("a BigInt past 2**53 travels in a query, and as JSON where JSON.rawJSON exists", async () => {
    const big = 10n ** 30n;
    assert.deepEqual((await send("js-kinds", "GET", { a: big })).a, ["int", 1e30]);
    const posted = send("js-kinds", "POST", { a: big });
    if (JSON.rawJSON) assert.deepEqual((await posted).a, ["int", 1e30]);
    else await assert.rejects(posted, /BigInt past 2\*\*53 cannot be written as JSON by this JavaScript \(argument "a"\)/);
  });

  test("a GET URL keeps plain values readable", () => {
    const [params, rest] = queryArguments({ a: 1, b: ["q", "r"], f: 0.25, ok: true, n: null, e: [], one: ["q"] });
    assert.equal(new URLSearchParams(params).toString(), "a=1&b=q&b=r&f=0.25&ok=true");
    assert.deepEqual(rest, { n: null, e: [], one: ["q"] });
  });
});

describe("a generic call sends each kind as it is", () => {
  for (const method of ["GET", "POST"]) {
    for (const value of [null, [], ["q"], 1e300, { k: [null] }, true, ""]) {
      test(`${JSON.stringify(value)}, ${method}`, async () => {
        const got = await call(base, UNTYPED, { v: value, w: [1, "x"] }, { method });
        assert.deepEqual(got.v[1], value);
        assert.deepEqual(got.w, ["list", [1, "x"]]);
      });
    }
    test(`bytes beside other values, ${method}`, async () => {
      const got = await call(base, UNTYPED, { v: BYTES, w: [null, []] }, { method });
      assert.deepEqual([got.v, got.w], [["bytes", [0, 255, 1]], ["list", [null, []]]]);
    });
    test(`NaN is refused, ${method}`, async () => {
      await assert.rejects(call(base, UNTYPED, { x: NaN }, { method }), /\(argument "x"\)/);
    });
  }

  test("a null call field is left out of a query", async () => {
    const got = await call(base, UNTYPED, { v: 1 }, { method: "GET", fields: { use_cache: null, timeout: undefined } });
    assert.deepEqual(got.v, ["int", 1]);
    assert.throws(() => url(base, UNTYPED, { x: [Infinity] }), /NaN and Infinity/);
    assert.doesNotMatch(url(base, UNTYPED, {}, { fields: { use_cache: null } }), /use_cache/);
  });
});
