"""``clients/js/owt.d.ts`` stays in step with ``owt.js``: it declares every export, option and
public member the module has, no more, and a strict TypeScript program using each of them the
way the README shows compiles and runs against a real server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from conftest import ROOT, OwtProcess, require
from jsclient import OWT_JS, node

TYPINGS = ROOT / "clients" / "js" / "owt.d.ts"
TSC = ROOT / "clients" / "js" / "node_modules" / ".bin" / "tsc"
TSCONFIG = {
    "compilerOptions": {
        "target": "es2022",
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "lib": ["es2022", "dom", "dom.iterable"],
        "strict": True,
        "noEmitOnError": True,
        "outDir": "out",
    },
    "files": ["main.ts", "members.ts"],
}


def declared_values() -> set[str]:
    """The functions and classes owt.d.ts declares (its interfaces and types are not values)."""
    return set(re.findall(r"^export (?:declare )?(?:function|class|const) (\w+)", read(), re.M))


def declared_options() -> set[str]:
    body = re.search(r"^export interface CallOptions \{(.*?)^\}", read(), re.M | re.S)
    assert body is not None
    return set(re.findall(r"^  (\w+)\??:", body.group(1), re.M))


def read() -> str:
    return TYPINGS.read_text()


def test_the_typings_declare_every_export_and_nothing_else() -> None:
    exported = node("return Object.keys(owt);")
    assert set(exported) == declared_values()


def test_the_typings_declare_every_option_the_module_reads() -> None:
    source = OWT_JS.read_text()
    read_options = set(re.findall(r"\boptions\.(\w+)", source))
    for names in re.findall(r"const \{([\w\s,]+)\} = options\b", source):
        read_options |= {name.strip() for name in names.split(",")}
    assert read_options == declared_options()


# Every public member of each exported class, as the module has them at run time.
MEMBERS = """
const members = {};
for (const [name, value] of Object.entries(owt)) {
  if (!/^class\\b/.test(Function.prototype.toString.call(value))) continue;
  const instance = new value(200, { error: "x" });
  const own = Object.keys(instance);
  const inherited = Object.getOwnPropertyNames(value.prototype).filter((n) => n !== "constructor");
  members[name] = [...own, ...inherited];
}
return members;
"""


def members_program() -> str:
    """TypeScript touching every export and every class member: an undeclared one fails."""
    exported = node("return Object.keys(owt);")
    lines = ['import * as owt from "owt-client";', ""]
    lines.append(f"export const values: unknown[] = [{', '.join(f'owt.{n}' for n in exported)}];")
    for name, members in node(MEMBERS).items():
        touched = ", ".join(f"x.{member}" for member in members)
        lines.append(f"export const {name}Members = (x: owt.{name}): unknown[] => [{touched}];")
    return "\n".join(lines) + "\n"


# Each export and option used as the README shows, with the values TypeScript users pass.
MAIN = r"""
import {
  EventParser, OwtError, call, decode, encode, encodeText, endpoint, endpointStream, events,
  forget, queryArguments, send, sendEndpoint, sha256, splitFiles, stream, url,
} from "owt-client";
import type { BuildProgress, CallOptions, Chunk, Result } from "owt-client";

declare const process: { argv: string[] };
const server = process.argv[2];
const progress: BuildProgress[] = [];
const options: CallOptions = {
  method: "POST", fnName: "go", fields: { use_cache: false }, headers: new Headers({ "x-a": "1" }),
  token: undefined, auth: undefined, signal: AbortSignal.timeout(20000), fetch: globalThis.fetch,
  reuse: false, sent: new Set<string>(), body: undefined, contentType: undefined,
  onProgress: (event) => { progress.push(event); },
};
const echo = "def go(request, n):\n    return [n, request.headers.get('x-a')]\n";
const out: unknown[] = [];
out.push(await call(server, echo, { n: 1 }, options));
const pairs: HeadersInit = [["x-a", "2"]];
out.push(await call(server, echo, { n: 2 }, { ...options, method: "GET", headers: pairs }));
out.push(await call(server, echo, { n: 3 }, { ...options, headers: { "x-a": "3" } }));
const upload = "def run(request):\n    return request.data.decode()\n";
const body = new Blob(["up"]);
out.push(await call(server, upload, {}, { body, contentType: "text/plain", auth: ["a", "b"] }));
let text = "";
for await (const chunk of stream(server, "def run():\n    yield 'a'\n    yield 'b'\n")) {
  const c: Chunk = chunk;
  text += typeof c === "string" ? c : new TextDecoder().decode(c);
}
out.push(text);
const items: unknown[] = [];
for await (const item of events(server, "def run():\n    return sse(['x', '[DONE]'])\n")) {
  items.push(item);
}
out.push(items);
const response: Response = await send(server, "def run(): return {'a': 1}");
const decoded: Result = await decode(response);
out.push(decoded);
out.push(new URL(url(server, "def run(): pass", {}, { token: "t" })).searchParams.get("token"));
out.push(Object.keys(encode("def run(): pass", { a: 1 }, { fnName: "f" })).sort());
out.push(encodeText("hi?"), encodeText("hi?", true), (await sha256("x"))?.length);
out.push(queryArguments({ a: 1, b: null }));
const [plain, files] = splitFiles({ a: 1, b: new Uint8Array([1]) });
out.push([Object.keys(plain), Object.keys(files)]);
const health = `${server}/_owt/health`;
out.push(await endpoint(health, {}, { method: "GET" }));
out.push((await sendEndpoint(health, {}, { method: "GET" })).status);
let streamed = "";
for await (const chunk of endpointStream(health, {}, { method: "GET" })) streamed += chunk;
out.push(streamed);
const parser = new EventParser(200);
out.push(parser.feed("id: 1\ndata: 1\n\nid: [DONE]\ndata: [DONE]\n\n"), parser.end());
out.push(parser.done, parser.status, parser.failure);
parser.check();
const failing = new EventParser(500);
failing.feed('event: error\ndata: {"error": "timeout", "message": "late"}\n\n');
try {
  failing.check();
} catch (error) {
  if (error instanceof OwtError) out.push([error.kind, error.status, error.traceback]);
}
forget(server);
forget();
console.log(JSON.stringify(out));
"""

EXPECTED: list[Any] = [
    [1, "1"],
    [2, "2"],
    [3, "3"],
    "up",
    "ab",
    ["x", "[DONE]"],
    {"a": 1},
    "t",
    ["code_b64", "fn_name", "kwargs"],
    "aGk/",
    "aGk_",
    64,
    [[["a", "1"]], {"b": None}],
    [["a"], ["b"]],
    "ok",
    200,
    "ok",
    [1],
    [],
    True,
    200,
    None,
    ["timeout", 500, None],
]


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_strict_typescript_program_uses_every_export_and_option(
    owt_server: OwtProcess, tmp_path: Path
) -> None:
    if not TSC.exists():
        require("typescript (npm install --no-save --prefix clients/js typescript@5)")
    (tmp_path / "main.ts").write_text(MAIN)
    (tmp_path / "members.ts").write_text(members_program())
    (tmp_path / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "owt-client").symlink_to(ROOT / "clients" / "js")
    run([str(TSC), "-p", "."], tmp_path)
    assert json.loads(run(["node", "out/main.js", owt_server.url], tmp_path)) == EXPECTED
