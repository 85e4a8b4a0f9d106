"""``owt codegen``: typed functions for a real server's endpoints compile and return the right
values in Haskell (ghc), TypeScript (tsc) and Python (mypy).

The endpoints (tests/codegen/typed_endpoints.py, registered by name, and the README's
example/typed/generate.py, mounted) cover every hint the generators type.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import OWT, ROOT, OwtProcess, require

CODEGEN = ROOT / "tests" / "codegen"
REGISTERED = ["total", "scale", "shout", "is-even", "point", "info", "pick", "count", "nothing"]
REGISTERED += ["size-of", "checksum", "distance", "maybe-size", "walk", "level", "workers"]
REGISTERED += ["maybe-flag", "maybe-half"]
TSC = ROOT / "clients" / "js" / "node_modules" / ".bin" / "tsc"
#: ``walk(2)``'s records, each decoded from the JSON line the server streamed it as.
WALKED = [{"x": 0, "y": 0, "label": ""}, {"x": 1, "y": -1, "label": ""}]


def picture(animal: str) -> bytes:
    namespace: dict[str, object] = {}
    exec((ROOT / "example/typed/generate.py").read_text(), namespace)
    run = namespace["run"]
    assert callable(run)
    result = run(animal)
    assert isinstance(result, bytes)
    return result


@pytest.fixture(scope="module")
def server() -> Iterator[OwtProcess]:
    server = OwtProcess("--mount", "generate=example/typed/generate.py")
    code = base64.b64encode((CODEGEN / "typed_endpoints.py").read_bytes()).decode()
    for name in REGISTERED:
        body = {"code_b64": code, "fn_name": name.replace("-", "_")}
        response = httpx.put(f"{server.url}/_owt/endpoints/{name}", json=body)
        assert response.status_code in (200, 201), response.text
    yield server
    server.stop()


def codegen(server: OwtProcess, lang: str, out: Path, *endpoints: str) -> str:
    result = subprocess.run(
        [*OWT, "codegen", "--lang", lang, "--out", str(out), server.url, *endpoints],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return out.read_text()


def run(
    command: list[str], cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_openapi_carries_result_types_and_streams(server):
    document = httpx.get(server.url + "/_owt/openapi.json").json()
    point = document["paths"]["/point"]["post"]
    assert point["x-owt-result"]["title"] == "Point"
    assert point["x-owt-result"]["required"] == ["x", "y"]
    assert document["paths"]["/count"]["post"]["x-owt-stream"] is True
    assert document["paths"]["/generate"]["post"]["x-owt-result"] == {
        "type": "string",
        "format": "binary",
        "contentMediaType": "application/octet-stream",
    }
    # Parameters typed exactly for codegen (the bodies also take the text forms).
    assert document["paths"]["/generate"]["post"]["x-owt-parameters"] == {
        "animal": {"enum": ["cat", "dog"]}
    }


def test_the_readme_signatures(server, tmp_path):
    haskell = codegen(server, "haskell", tmp_path / "Endpoints.hs", "generate")
    assert "generate :: OwtClient -> Animal -> IO BS.ByteString" in haskell
    assert "data Animal = Cat | Dog" in haskell
    typescript = codegen(server, "typescript", tmp_path / "endpoints.ts", "generate")
    assert 'generate(animal: "cat" | "dog"): Promise<Uint8Array>' in typescript
    python = codegen(server, "python", tmp_path / "endpoints.py", "generate")
    assert "def generate(client: Client, animal: Animal) -> bytes:" in python


def test_the_haskell_module_is_named_after_its_file(server, tmp_path):
    """GHC finds ``import Endpoints`` in Endpoints.hs: the module takes the file's name, and a
    file no module can be named after is refused, naming one that can."""
    assert "\nmodule Api where\n" in codegen(server, "haskell", tmp_path / "Api.hs", "generate")
    refused = {
        "lower.hs": "Lower.hs",
        "my-endpoints.hs": "MyEndpoints.hs",
        "Endpoints.txt": "Endpoints.hs",
        "Main.hs": "EndpointsMain.hs",
        "Owt.hs": "EndpointsOwt.hs",
    }
    for name, better in refused.items():
        command = [*OWT, "codegen", "--lang", "haskell", "--out", str(tmp_path / name)]
        result = subprocess.run([*command, server.url], capture_output=True, text=True)
        assert result.returncode == 2, result
        assert f"write it as {tmp_path / better}" in result.stderr
        assert not (tmp_path / name).exists()


def test_an_unknown_endpoint_is_an_error(server, tmp_path):
    result = subprocess.run(
        [*OWT, "codegen", "--lang", "python", server.url, "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no endpoint named nope" in result.stderr


def test_a_protected_server_needs_its_token(start_server, tmp_path):
    protected = start_server("--token", "tok-1", "--mount", "generate=example/typed/generate.py")
    command = [*OWT, "codegen", "--lang", "typescript", protected.url]
    denied = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert denied.returncode != 0 and "401" in denied.stderr
    allowed = subprocess.run(
        [*command, "--token", "tok-1"], capture_output=True, text=True, timeout=60
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "export async function generate(" in allowed.stdout
    # example/typed/Main.hs sends the token of OWT_TOKEN, as the example scripts do.
    if shutil.which("runghc") is None:
        require("runghc (apt-get install ghc)")
    codegen_haskell = [*OWT, "codegen", "--lang", "haskell", "--token", "tok-1"]
    run([*codegen_haskell, "--out", "Endpoints.hs", protected.url], tmp_path)
    shutil.copy(ROOT / "example/typed/Main.hs", tmp_path / "Main.hs")
    command = ["runghc", f"-i{ROOT / 'clients/haskell/src'}:{tmp_path}", "Main.hs"]
    run(command, tmp_path, env={**os.environ, "OWT_URL": protected.url, "OWT_TOKEN": "tok-1"})
    assert (tmp_path / "cat.pbm").read_bytes() == picture("cat")


#: The start of a Haskell program that calls the generated module at the URL it is given.
HASKELL_HEAD = """\
{-# LANGUAGE OverloadedStrings #-}
import qualified Data.ByteString as BS
import Data.IORef
import Owt
import Endpoints
import System.Environment

main :: IO ()
main = do
  [url] <- getArgs
  c <- mkOwtClient url
"""

HASKELL_MAIN = (
    HASKELL_HEAD
    + """\
  generate c Cat >>= \\b -> print (BS.length b, BS.take 2 b)
  total c [1, 2, 3] Nothing >>= print
  total c [1, 2, 3] (Just 10) >>= print
  scale c 1.5 Nothing >>= print
  shout c "hi" Nothing >>= print
  shout c "hi" (Just False) >>= print
  isEven c 4 >>= print
  point c 1 2 Nothing >>= print
  info c "ann" [Large, Small] >>= print
  pick c Nothing >>= print
  seen <- newIORef []
  count c 3 (\\chunk -> modifyIORef seen (chunk :))
  readIORef seen >>= print . BS.concat . reverse
  nothing c >>= print
  sizeOf c (BS.pack [255, 0, 104, 233]) >>= print
  checksum c (BS.pack [255, 1]) Nothing Nothing >>= print
  checksum c (BS.pack [1]) (Just (BS.pack [254])) (Just "s") >>= print
  distance c (Point 3 4 Nothing) Nothing >>= print
  distance c (Point 3 4 Nothing) (Just (Point 1 1 (Just "o"))) >>= print
  maybeSize c Nothing >>= print
  maybeSize c (Just (BS.pack [0, 1])) >>= print
  walked <- newIORef []
  walk c 2 (\\p -> modifyIORef walked (p :))
  readIORef walked >>= print . reverse
  level c Nothing >>= print
  level c (Just Level3) >>= print
  mapM (workers c) [minBound .. maxBound] >>= print
  mapM (maybeFlag c) [Nothing, Just 3, Just (-3)] >>= print
  mapM (maybeHalf c) [Nothing, Just 3] >>= print
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
    assert lines == [
        f'({len(picture("cat"))},"P4")',
        "6",
        "16",
        "3.0",
        '"HI!"',
        '"hi"',
        "True",
        'Point {pointX = 1, pointY = 2, pointLabel = Just "(1, 2)"}',
        'Info {infoName = "ann", infoTags = ["ann","large","small"], infoSize = Large, '
        "infoRatio = 0.5}",
        "Large",
        '"0;1;2;"',
        "()",
        "4",
        '"2:256"',
        '"s1:255"',
        "7",
        "5",
        "-1",
        "2",
        '[Point {pointX = 0, pointY = 0, pointLabel = Just ""},'
        'Point {pointX = 1, pointY = -1, pointLabel = Just ""}]',
        "Level2",
        "Level1",
        "[Auto,WorkersTrue,Workers0]",
        "[Nothing,Just True,Just False]",
        "[Nothing,Just 1.5]",
    ]


TYPESCRIPT_MAIN = """\
import { server, generate, total, scale, shout, isEven, point, info, pick, count, nothing,
  sizeOf, checksum, distance, maybeSize, walk, level, workers, maybeFlag, maybeHalf,
} from "./endpoints.js";
import type { Point, Info, Level, Workers } from "./endpoints.js";

declare const process: { argv: string[] };
server.url = process.argv[2];
const picture: Uint8Array = await generate("cat");
const p: Point = await point(1, 2);
const i: Info = await info("ann", ["large", "small"]);
let streamed = "";
for await (const chunk of count(3)) streamed += chunk;
const none: void = await nothing();
const walked: Point[] = [];
for await (const step of walk(2)) walked.push(step);
const levels: Level[] = [await level(), await level(3)];
const modes: Workers[] = [await workers(0), await workers("auto"), await workers(true)];
console.log(JSON.stringify([
  [picture.length, String.fromCharCode(picture[0], picture[1])],
  await total([1, 2, 3]), await total([1, 2, 3], 10), await scale(1.5), await shout("hi"),
  await shout("hi", false), await isEven(4), p, i, await pick(), streamed, none ?? null,
  await sizeOf(new TextEncoder().encode("h\u00e9llo")), await checksum(new Uint8Array([255, 1])),
  await checksum(new Uint8Array([1]), new Uint8Array([254]), "s"), await distance({ x: 3, y: 4 }),
  await distance({ x: 3, y: 4 }, { x: 1, y: 1, label: "o" }),
  await maybeSize(null), await maybeSize(new Uint8Array([0, 1])), walked, levels, modes,
  [await maybeFlag(), await maybeFlag(3), await maybeFlag(-3)],
  [await maybeHalf(), await maybeHalf(3)],
]));
"""

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
    "files": ["main.ts", "endpoints.ts"],
}


def test_typescript(server, tmp_path):
    if not TSC.exists():
        require("typescript (npm install --no-save --prefix clients/js typescript@5)")
    codegen(server, "typescript", tmp_path / "endpoints.ts")
    (tmp_path / "main.ts").write_text(TYPESCRIPT_MAIN)
    (tmp_path / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "owt-client").symlink_to(ROOT / "clients" / "js")
    run([str(TSC), "--noEmit", "-p", "."], tmp_path)
    run([str(TSC), "-p", "."], tmp_path)
    out = json.loads(run(["node", "out/main.js", server.url], tmp_path))
    assert out == [
        [len(picture("cat")), "P4"],
        6,
        16,
        3,
        "HI!",
        "hi",
        True,
        {"x": 1, "y": 2, "label": "(1, 2)"},
        {"name": "ann", "tags": ["ann", "large", "small"], "size": "large", "ratio": 0.5},
        "large",
        "0;1;2;",
        None,
        6,
        "2:256",
        "s1:255",
        7,
        5,
        -1,
        2,
        WALKED,
        [2, 1],
        ["auto", True, 0],
        [None, True, False],
        [None, 1.5],
    ]


PYTHON_MAIN = """\
import sys

from owt.client import Client

import endpoints as e

with Client(sys.argv[1]) as c:
    picture: bytes = e.generate(c, "cat")
    point: e.Point = e.point(c, 1, 2)
    info: e.Info = e.info(c, "ann", ["large", "small"])
    size: e.Sizes = e.pick(c)
    e.nothing(c)  # returns None (mypy: a value of None is not to be used)
    walked: list[e.Point] = list(e.walk(c, 2))
    levels: list[e.Level] = [e.level(c), e.level(c, level=3)]
    modes: list[e.Workers] = [e.workers(c, w) for w in (0, "auto", True)]
    print(repr([
        picture, e.total(c, [1, 2, 3]), e.total(c, [1, 2, 3], start=10), e.scale(c, 1.5),
        e.shout(c, "hi"), e.shout(c, "hi", loud=False), e.is_even(c, 4), point, info, size,
        "".join(e.count(c, 3)), None, e.size_of(c, "h\u00e9llo".encode()),
        e.checksum(c, bytes([255, 1])), e.checksum(c, bytes([1]), salt=bytes([254]), label="s"),
        e.distance(c, {"x": 3, "y": 4}),
        e.distance(c, {"x": 3, "y": 4}, b={"x": 1, "y": 1, "label": "o"}),
        e.maybe_size(c, None), e.maybe_size(c, bytes([0, 1])), walked, levels, modes,
        [e.maybe_flag(c), e.maybe_flag(c, x=3), e.maybe_flag(c, x=-3)],
        [e.maybe_half(c), e.maybe_half(c, x=3)],
    ]))
"""


def test_python(server, tmp_path):
    codegen(server, "python", tmp_path / "endpoints.py")
    # Lint-clean as written: it imports only what it uses (ruff's own rules, not ours).
    run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "."], tmp_path)
    (tmp_path / "main.py").write_text(PYTHON_MAIN)
    # As a user's project would: owt found installed (its py.typed marker), no MYPYPATH.
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "endpoints.py"]
    result = subprocess.run(
        [*mypy, "main.py"], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = run([sys.executable, "main.py", server.url], tmp_path)
    assert out.strip() == repr(
        [
            picture("cat"),
            6,
            16,
            3.0,
            "HI!",
            "hi",
            True,
            {"x": 1, "y": 2, "label": "(1, 2)"},
            {"name": "ann", "tags": ["ann", "large", "small"], "size": "large", "ratio": 0.5},
            "large",
            "0;1;2;",
            None,
            6,
            "2:256",
            "s1:255",
            7,
            5,
            -1,
            2,
            WALKED,
            [2, 1],
            ["auto", True, 0],
            [None, True, False],
            [None, 1.5],
        ]
    )


def test_the_newcomers_path_in_example_typed(server, tmp_path):
    """One --mount (the server fixture), one ``owt codegen``, and Main.hs runs as written."""
    if shutil.which("runghc") is None:
        require("runghc (apt-get install ghc)")
    codegen(server, "haskell", tmp_path / "Endpoints.hs")
    shutil.copy(ROOT / "example/typed/Main.hs", tmp_path / "Main.hs")
    command = ["runghc", f"-i{ROOT / 'clients/haskell/src'}:{tmp_path}", "Main.hs"]
    run(command, tmp_path, env={**os.environ, "OWT_URL": server.url})
    assert (tmp_path / "cat.pbm").read_bytes() == picture("cat")
