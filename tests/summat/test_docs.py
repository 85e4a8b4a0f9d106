"""Every example in docs/summat.md's step tables runs and gives the output shown."""

from __future__ import annotations

import operator
import re
from pathlib import Path

import pytest

from owt.summat import Request, pipe

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "summat.md").read_text()
STEP_SECTION = DOC[DOC.index("## Every step") : DOC.index("## Writing a step")]
CODE = re.compile(r"`([^`]+)`")


def rows() -> list[tuple[str, str, str]]:
    found = []
    for line in STEP_SECTION.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        example = CODE.findall(cells[1])[0]
        found.append((cells[0], example, cells[2]))
    return found


ROWS = rows()


def test_every_step_has_an_example() -> None:
    from owt.summat import STEPS

    documented = {re.match(r"`(\w+)", name)[1] for name, _, _ in ROWS}  # type: ignore[index]
    assert documented >= STEPS


@pytest.mark.parametrize(("name", "example", "output"), ROWS, ids=[r[1][:60] for r in ROWS])
def test_example(name: str, example: str, output: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    scope = {"pipe": pipe, "Request": Request, "operator": operator}
    if output.startswith("raises"):
        expected = CODE.findall(output)[0]
        with pytest.raises(Exception) as info:
            eval(example, scope)
        assert type(info.value).__name__ == expected
    else:
        assert repr(eval(example, scope)) == CODE.findall(output)[0]
