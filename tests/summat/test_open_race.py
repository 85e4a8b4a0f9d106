"""``open(root_dir=)`` under a symlink swapped while it reads: never a byte from outside."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from owt.core.errors import Forbidden, NoFile
from owt.summat.effects import read_under

INSIDE = b"inside"
SECRET = b"secret outside the root"


def swapping(root: Path, name: str, inside: Path, outside: Path, stop: threading.Event) -> None:
    """Flip ``root/name`` between a link to ``inside`` and one to ``outside``, atomically."""
    flips = [root / f".{name}.in", root / f".{name}.out"]
    while not stop.is_set():
        for flip, target in zip(flips, (inside, outside), strict=True):
            try:
                os.symlink(target, flip)
            except FileExistsError:
                pass
            os.replace(flip, root / name)


@pytest.mark.parametrize("shape", ["file", "folder"])
def test_a_symlink_swap_never_reads_outside(tmp_path: Path, shape: str) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "real" / "x.txt").write_bytes(INSIDE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(SECRET)
    if shape == "file":
        inside_target, outside_target, asked = root / "real" / "x.txt", outside / "x.txt", "swap"
    else:
        inside_target, outside_target, asked = root / "real", outside, "swap/x.txt"
    stop = threading.Event()
    swapper = threading.Thread(
        target=swapping, args=(root, "swap", inside_target, outside_target, stop)
    )
    swapper.start()
    outcomes = {"read": 0, "refused": 0, "missing": 0}
    try:
        for _ in range(3000):
            try:
                data = read_under(root, asked)
            except Forbidden as err:
                assert str(tmp_path) not in err.message
                outcomes["refused"] += 1
                continue
            except NoFile:  # caught between unlink and rename
                outcomes["missing"] += 1
                continue
            assert data == INSIDE  # never SECRET
            outcomes["read"] += 1
    finally:
        stop.set()
        swapper.join()
    assert outcomes["read"] > 0
    assert outcomes["refused"] > 0


def test_refusals_name_no_server_path(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "dir").mkdir()
    (tmp_path / "root" / "out").symlink_to(tmp_path)
    for name, kind in [
        ("../x", Forbidden),
        ("out/x", Forbidden),
        (str(tmp_path / "x"), Forbidden),
        ("missing.txt", NoFile),
        ("dir", NoFile),
    ]:
        with pytest.raises(kind) as caught:
            read_under(tmp_path / "root", name)
        assert str(tmp_path) not in caught.value.message, name
    assert isinstance(Forbidden("x"), PermissionError)
    assert isinstance(NoFile("x"), FileNotFoundError)
