"""``owt codegen`` for endpoints whose names clash — with what the generated module imports,
with its locals, with each other once spelled, or are not ASCII — whose arguments are named
like call fields, take None or bytes: the generated code compiles and calls a real server.

The endpoints are tests/codegen/clashing_endpoints.py, registered under the names below.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from collections.abc import Iterator

import httpx
import pytest
from conftest import ROOT, OwtProcess, require
from test_codegen import HASKELL_HEAD, TSC, TSCONFIG, codegen, run

ENDPOINTS = {
    "cast": "one", "Any": "two", "Client": "one", "Literal": "two", "Iterator": "one",
    "int": "two", "my-end-point": "one", "my_end.point": "two", "endpoint": "one",
    "show": "two", "object": "one", "words": "two", "echo": "echo", "mood": "mood",
    "fielded": "fielded", "maybe": "maybe", "grosse": "größe", "blob": "blob",
    "chunks": "chunks", "wrap": "wrap",
}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[OwtProcess]:
    server = OwtProcess()
    code = (ROOT / "tests" / "codegen" / "clashing_endpoints.py").read_bytes()
    for name, fn_name in ENDPOINTS.items():
        body = {"code_b64": base64.b64encode(code).decode(), "fn_name": fn_name}
        response = httpx.put(f"{server.url}/_owt/endpoints/{name}", json=body)
        assert response.status_code in (200, 201), response.text
    yield server
    server.stop()


def test_names_are_distinct_and_spelled(server, tmp_path):
    python = codegen(server, "python", tmp_path / "endpoints.py")
    for name in ("cast_", "client_", "int_", "my_end_point", "my_end_point_2", "größe: int"):
        assert f"{name}" in python
    haskell = codegen(server, "haskell", tmp_path / "Endpoints.hs")
    assert (
        "data M = MLeft | MRight | MError | MNull | MString | MShow | GrinningFace | U" in haskell
    )
    assert "grosse :: OwtClient -> Int" in haskell and "data Value' = Value'" in haskell
    typescript = codegen(server, "typescript", tmp_path / "endpoints.ts")
    assert "function endpoint_(" in typescript and "myEndPoint_2" in typescript


PYTHON_MAIN = """\
import sys

from owt.client import Client

import endpoints as e

with Client(sys.argv[1]) as c:
    value: e.Value = e.wrap(c, {"text": "v", "object": 1})
    print(repr([
        e.cast_(c), e.any(c), e.client_(c), e.literal(c), e.iterator(c), e.int_(c),
        e.my_end_point(c), e.my_end_point_2(c), e.endpoint(c), e.show(c), e.object(c),
        e.words(c), e.echo(c, "E", 2), e.echo(c, "E", 2, client_="C", server="S"),
        [e.mood(c, m) for m in ("Left", "Right", "Error", "Null", "String", "show", "\\U0001f600",
                                 "\\u00fc", "IO", "Just")],
        e.fielded(c, 5, "e"), e.fielded(c, 5, "e", fn_name="g", requirements=None),
        e.fielded(c, 5, "e", requirements=4),
        e.maybe(c, None), e.maybe(c, 1, label=None), e.maybe(c, 1), e.maybe(c, 1, n=None),
        e.grosse(c, 3), e.grosse(c, 3, maße="cm"),
        e.blob(c, b"\\x00\\xff\\x80"), e.blob(c, b"\\x00", extra=b"\\xff\\xfe", tag="ab"),
        list(e.chunks(c, 2)), value,
    ]))
"""

EXPECTED = [
    "one", "two", "one", "two", "one", "two", "one", "two", "one", "two", "one", "two",
    "E/2/c/s", "E/2/C/S",
    ["Left", "Right", "Error", "Null", "String", "show", "\U0001f600", "\u00fc", "IO", "Just"],
    "5/e/f/None", "5/e/g/None", "5/e/f/4",
    "None/default/3", "1/None/3", "1/default/3", "1/default/3",
    "3m", "3cm", 3071, 1022, [{"i": 0}, {"i": 1}], {"text": "v!", "object": 2},
]  # fmt: skip


def test_python(server, tmp_path):
    codegen(server, "python", tmp_path / "endpoints.py")
    run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "."], tmp_path)
    (tmp_path / "main.py").write_text(PYTHON_MAIN)
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "endpoints.py"]
    run([*mypy, "main.py"], tmp_path)
    out = run([sys.executable, "main.py", server.url], tmp_path)
    assert out.strip() == repr(EXPECTED)


TYPESCRIPT_MAIN = """\
import * as e from "./endpoints.js";

declare const process: { argv: string[] };
e.server.url = process.argv[2];
const moods = ["Left", "Right", "Error", "Null", "String", "show", "\\u{1f600}", "\\u00fc",
  "IO", "Just"] as const;
const chunks: Record<string, unknown>[] = [];
for await (const item of e.chunks(2)) chunks.push(item);
const value: e.Value = await e.wrap({ text: "v", object: 1 });
const out: unknown[] = [
  await e.cast(), await e.any(), await e.client(), await e.literal(), await e.iterator(),
  await e.int(), await e.myEndPoint(), await e.myEndPoint_2(), await e.endpoint_(),
  await e.show(), await e.object(), await e.words(), await e.echo("E", 2),
  await e.echo("E", 2, "C", "S"), await Promise.all(moods.map((m) => e.mood(m))),
  await e.fielded(5, "e"), await e.fielded(5, "e", "g", null),
  await e.fielded(5, "e", undefined, 4),
  await e.maybe(null), await e.maybe(1, null), await e.maybe(1), await e.maybe(1, undefined),
  await e.grosse(3), await e.grosse(3, "cm"),
  await e.blob(new Uint8Array([0, 255, 128])),
  await e.blob(new Uint8Array([0]), new Uint8Array([255, 254]), "ab"),
  chunks, value,
];
console.log(JSON.stringify(out));
"""


def test_typescript(server, tmp_path):
    if not TSC.exists():
        require("typescript (npm install --no-save --prefix clients/js typescript@5)")
    codegen(server, "typescript", tmp_path / "endpoints.ts")
    (tmp_path / "main.ts").write_text(TYPESCRIPT_MAIN)
    (tmp_path / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "owt-client").symlink_to(ROOT / "clients" / "js")
    run([str(TSC), "-p", "."], tmp_path)
    out = json.loads(run(["node", "out/main.js", server.url], tmp_path))
    assert out == EXPECTED  # bytes parameters take a Uint8Array, sent as a file part


HASKELL_MAIN = (
    HASKELL_HEAD.replace("import qualified Data.ByteString as BS\n", "").replace(
        "import Owt\n", "import Owt\nimport qualified Data.Aeson as A\n"
    )
    + """\
  mapM_ (>>= print) [cast c, any' c, client' c, literal c, iterator c, int c, myEndPoint c,
    myEndPoint_2 c, endpoint c, show' c, object' c, words' c, echo c "E" 2 Nothing Nothing,
    echo c "E" 2 (Just "C") (Just "S")]
  mapM (mood c) [minBound .. maxBound] >>= print
  fielded c 5 "e" Nothing Nothing >>= print
  fielded c 5 "e" (Just "g") (Just 4) >>= print
  maybe' c Nothing Nothing Nothing >>= print
  maybe' c (Just 1) (Just "l") (Just 2) >>= print
  grosse c 3 Nothing >>= print
  grosse c 3 (Just "cm") >>= print
  blob c "abc" Nothing (Just "ab") >>= print
  seen <- newIORef []
  chunks c 2 (\\item -> modifyIORef seen (item :))
  readIORef seen >>= print . map A.encode . reverse
  wrap c (Value' "v" 1) >>= print
"""
)


def test_haskell(server, tmp_path):
    ghc = shutil.which("ghc")
    if ghc is None:
        require("ghc (apt-get install ghc libghc-aeson-dev libghc-http-client-dev ...)")
    assert ghc is not None
    codegen(server, "haskell", tmp_path / "Endpoints.hs")
    (tmp_path / "Main.hs").write_text(HASKELL_MAIN)
    sources = f"-i{ROOT / 'clients/haskell/src'}:{tmp_path}"
    build = ["-outputdir", str(tmp_path / "build"), "-o", "main", "Main.hs"]
    run([ghc, "-O0", "-Wall", "-Werror", sources, *build], tmp_path)
    lines = run([str(tmp_path / "main"), server.url], tmp_path).splitlines()
    names = ["one", "two"] * 6
    assert lines == [
        *(f'"{name}"' for name in names),
        '"E/2/c/s"',
        '"E/2/C/S"',
        "[MLeft,MRight,MError,MNull,MString,MShow,GrinningFace,U,Io,MJust]",
        '"5/e/f/None"',
        '"5/e/g/4"',
        '"None/default/3"',
        '"1/l/2"',
        '"3m"',
        '"3cm"',
        "3072",
        '["{\\"i\\":0}","{\\"i\\":1}"]',
        'Value\' {valueText = "v!", valueObject = 2}',
    ]
