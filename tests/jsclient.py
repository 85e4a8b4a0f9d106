"""Run a few lines of JavaScript against ``clients/js/owt.js`` in node, for the JS client tests.

    assert node("return await owt.call(S, 'def run(): return 1')", S=server.url) == "1"

The body runs in an async function in an ES module where ``owt`` is the module, each keyword
is a constant (as JSON) and ``outcome``/``collect`` describe what a promise or an async
iterator gave; its return value comes back as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from conftest import ROOT, require

OWT_JS = ROOT / "clients" / "js" / "owt.js"

PRELUDE = """
import * as owt from %s;

// An error as plain data: what a test looks at.
function described(error) {
  const cause = error.cause ? String(error.cause.message ?? error.cause) : null;
  const traceback = typeof error.traceback === "string" ? error.traceback : null;
  return { name: error.name, kind: error.kind ?? null, status: error.status ?? null,
           message: String(error.message), cause, traceback };
}

// {value} or {error} of a promise (or of a function giving one).
async function outcome(promise) {
  try {
    return { value: await (typeof promise === "function" ? promise() : promise) };
  } catch (error) {
    return { error: described(error) };
  }
}

// {items, error?} of an async iterator: what came before it failed, and how it failed.
async function collect(iterable) {
  const items = [];
  try {
    for await (const item of iterable) items.push(item instanceof Uint8Array ? [...item] : item);
  } catch (error) {
    return { items, error: described(error) };
  }
  return { items };
}
"""


def node(body: str, timeout: float = 60, **constants: Any) -> Any:
    """Run ``body`` (an async function's body) in node with owt.js as ``owt``; its result."""
    if shutil.which("node") is None:
        require("node (apt-get install nodejs)")
    names = "".join(f"const {name} = {json.dumps(value)};\n" for name, value in constants.items())
    script = (
        PRELUDE % json.dumps(OWT_JS.as_uri())
        + names
        + f"const result = await (async () => {{\n{body}\n}})();\n"
        + "process.stdout.write(JSON.stringify(result ?? null));\n"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
