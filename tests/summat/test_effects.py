"""Effects: files under a root, imports, guarded installs, shell commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from owt.core.call import Call
from owt.core.context import using_call
from owt.core.errors import NoFile
from owt.summat import ShellError, pipe


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``tmp/root`` with a file, a subfolder, and a secret next to (outside) it."""
    base = tmp_path / "root"
    (base / "sub").mkdir(parents=True)
    (base / "hello.txt").write_text("ey up\n")
    (base / "sub" / "deep.txt").write_text("deep")
    (tmp_path / "secret.txt").write_text("do not read")
    return base


def test_open_reads_bytes_under_root(root: Path) -> None:
    read = pipe().kwarg("path").open(root_dir=root)
    assert read(path="hello.txt") == b"ey up\n"
    assert read(path="sub/deep.txt") == b"deep"


def test_readme_read_a_file_and_shout(root: Path) -> None:
    shout = pipe().kwarg("path").open(root_dir=str(root)).bytes().f(bytes.upper)
    assert shout(path="hello.txt") == b"EY UP\n"


def test_open_with_encoding_gives_text(root: Path) -> None:
    assert pipe().kwarg("p").open(root_dir=root, encoding="utf-8")(p="hello.txt") == "ey up\n"


def test_open_takes_path_segments(root: Path) -> None:
    assert pipe().const(["sub", "deep.txt"]).open(root_dir=root)() == b"deep"


def test_open_inner_dotdot_that_stays_inside_is_fine(root: Path) -> None:
    assert pipe().const("sub/../hello.txt").open(root_dir=root)() == b"ey up\n"


@pytest.mark.parametrize("name", ["../secret.txt", "sub/../../secret.txt", ["..", "secret.txt"]])
def test_open_refuses_dotdot_escapes(root: Path, name: Any) -> None:
    with pytest.raises(PermissionError, match="outside root_dir"):
        pipe().const(name).open(root_dir=root)()


def test_open_refuses_absolute_paths(root: Path) -> None:
    inside = str(root / "hello.txt")
    for name in (inside, "/etc/passwd"):
        with pytest.raises(PermissionError, match="absolute paths are refused"):
            pipe().const(name).open(root_dir=root)()


def test_open_refuses_a_symlink_pointing_out(root: Path) -> None:
    (root / "link.txt").symlink_to(root.parent / "secret.txt")
    (root / "linkdir").symlink_to(root.parent)
    for name in ("link.txt", "linkdir/secret.txt"):
        with pytest.raises(PermissionError, match="outside root_dir"):
            pipe().const(name).open(root_dir=root)()


def test_open_follows_a_symlink_that_stays_inside(root: Path) -> None:
    (root / "alias.txt").symlink_to(root / "sub" / "deep.txt")
    assert pipe().const("alias.txt").open(root_dir=root)() == b"deep"


def test_open_missing_file_and_bad_names(root: Path) -> None:
    with pytest.raises(FileNotFoundError):
        pipe().const("nope.txt").open(root_dir=root)()
    with pytest.raises(TypeError, match="expected a path"):
        pipe().const(3).open(root_dir=root)()


def test_importing_makes_modules_visible_as_globals() -> None:
    # ``statistics`` is not imported by this module: the lambda finds it as a global.
    mean = pipe().importing("statistics").f(lambda xs: statistics.mean(xs))  # type: ignore[name-defined]  # noqa: F821
    assert mean(__last__=[1, 2, 3]) == 2


def test_importing_aliases_and_dotted_names() -> None:
    both = pipe().importing("os.path", "colorsys as cs").f(lambda x, cs: (os.path.sep, cs))
    sep, module = both()
    assert sep == os.sep
    assert module is sys.modules["colorsys"]


def test_importing_passes_the_value_and_rejects_bad_specs() -> None:
    assert pipe().const(5).importing("math")() == 5
    with pytest.raises(ValueError, match="expected 'module' or 'module as name'"):
        pipe().importing("from x import y")
    with pytest.raises(ModuleNotFoundError):
        pipe().importing("no_such_module_owt")()


def allow_install(allowed: bool) -> Call:
    return Call(code="", sha256="0", server={"allow_install": allowed})


@pytest.mark.parametrize("name", ["", "a\x00b", "hello.txt/", "hello.txt/.", "sub", "sub/"])
def test_open_a_path_naming_no_file_is_not_found(root: Path, name: str) -> None:
    # A caller's bad path is 404 like a missing file, never a 500 ValueError; a file
    # followed by "/" is no file, as the kernel says (realpath would drop the slash).
    with pytest.raises(NoFile, match="under root_dir") as info:
        pipe().const(name).open(root_dir=root)()
    assert str(root) not in str(info.value)


def test_open_a_file_through_a_file_is_not_found(root: Path) -> None:
    with pytest.raises(NoFile):
        pipe().const("hello.txt/../hello.txt").open(root_dir=root)()
    assert pipe().const("sub/../hello.txt").open(root_dir=root)() == b"ey up\n"


def test_installing_is_refused_outside_a_call() -> None:
    with pytest.raises(PermissionError, match="--allow-install"):
        pipe().installing("pip")()


def test_installing_is_refused_without_allow_install() -> None:
    with using_call(allow_install(False)), pytest.raises(PermissionError, match="refused"):
        pipe().const(1).installing("pip")()


def test_installing_skips_what_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", _no_subprocess)
    with using_call(allow_install(True)):
        assert pipe().const(1).installing("pip")() == 1


def _no_subprocess(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("pip must not run")


def test_installing_runs_pip_in_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    step = pipe().installing("owt-no-such-package==1.0")
    with using_call(allow_install(True)):
        step()
        step()  # installed once per pipe
    assert len(commands) == 1
    assert commands[0][:4] == [sys.executable, "-m", "pip", "install"]
    assert commands[0][-1] == "owt-no-such-package==1.0"


def test_installing_failure_carries_pips_output(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(subprocess, "run", fake_run)
    with (
        using_call(allow_install(True)),
        pytest.raises(RuntimeError, match="No matching distribution"),
    ):
        pipe().installing("owt-no-such-package")()


def test_installing_rejects_options() -> None:
    with pytest.raises(ValueError, match="requirement string"):
        pipe().installing("--index-url=http://evil")


def test_shell_returns_stdout_bytes() -> None:
    assert pipe().const("echo hi; echo there").shell()() == b"hi\nthere\n"
    assert pipe().const(["printf", "%s", "a b"]).shell()() == b"a b"


def test_shell_runs_in_cwd(tmp_path: Path) -> None:
    assert pipe().const("pwd").shell(cwd=str(tmp_path))().strip() == str(tmp_path).encode()


def test_shell_non_zero_exit_raises_with_stderr() -> None:
    with pytest.raises(ShellError, match="it went wrong") as info:
        pipe().const("echo it went wrong >&2; exit 3").shell()()
    assert info.value.returncode == 3
    assert isinstance(info.value, subprocess.CalledProcessError)


def test_shell_refuses_other_values() -> None:
    with pytest.raises(TypeError, match="command str or argv list"):
        pipe().const(42).shell()()
