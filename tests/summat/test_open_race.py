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


def swapping(root: Path, name: str, outside: Path, stop: threading.Event) -> None:
    """Flip ``root/name`` between a real entry (file or folder, inside) and a symlink to
    ``outside``: what a path resolved inside the root meets when it is opened a moment later."""
    entry, real, link = root / name, root / f".{name}.real", root / f".{name}.link"
    while not stop.is_set():
        os.rename(entry, real)  # the real one steps aside ...
        if not link.is_symlink():
            os.symlink(outside, link)
        os.rename(link, entry)  # ... and a link out of the root takes its place
        os.rename(entry, link)
        os.rename(real, entry)


@pytest.mark.parametrize("shape", ["file", "folder"])
def test_a_symlink_swap_never_reads_outside(tmp_path: Path, shape: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(SECRET)
    if shape == "file":
        (root / "x.txt").write_bytes(INSIDE)
        name, asked, target = "x.txt", "x.txt", outside / "x.txt"
    else:
        (root / "d").mkdir()
        (root / "d" / "x.txt").write_bytes(INSIDE)
        name, asked, target = "d", "d/x.txt", outside
    stop = threading.Event()
    swapper = threading.Thread(target=swapping, args=(root, name, target, stop))
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
            except NoFile:  # caught while the real one stepped aside
                outcomes["missing"] += 1
                continue
            assert data == INSIDE  # never SECRET
            outcomes["read"] += 1
    finally:
        stop.set()
        swapper.join()
    assert outcomes["read"] > 0, outcomes
    assert outcomes["refused"] > 0, outcomes


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
