"""The benchmarks' plumbing (bench/common.py, bench/run.py): what a run records, how it
stops what it starts, and the options every bench takes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import common

SECTIONS = re.compile(r"^<!-- (\w+) -->$", re.M)


def sections(text: str) -> list[str]:
    return SECTIONS.findall(text)


def generated(text: str, name: str) -> str:
    """What a bench wrote into section ``name`` (between its start and notes markers)."""
    start = text.index(f"<!-- {name} -->\n") + len(f"<!-- {name} -->\n")
    return text[start : text.index(f"<!-- {name}: notes -->", start)]


def test_recording_keeps_the_notes_written_below_the_table(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    common.record("echo", "## Echo\n\n| a |\n|---|\n| 1 |", results)
    text = results.read_text()
    assert "<!-- echo: notes -->" in text and text.rstrip().endswith("<!-- /echo -->")
    # Someone writes the run's history below the marker; the next run replaces the table only.
    text = text.replace("<!-- echo: notes -->\n", "<!-- echo: notes -->\nBefore: 0.5×.\n")
    other = "<!-- other -->\nkept too\n<!-- other: notes -->\n<!-- /other -->\n"
    results.write_text(f"{text}\n{other}")
    common.record("echo", "## Echo\n\n| a |\n|---|\n| 2 |", results)
    after = results.read_text()
    assert "| 2 |" in after and "| 1 |" not in after
    assert "Before: 0.5×." in after and "kept too" in after
    assert after.count("<!-- echo: notes -->") == 1
    common.record("echo", "## Echo\n\n| a |\n|---|\n| 2 |", results)
    assert results.read_text() == after  # a run that measures the same writes the same


def test_a_section_without_its_notes_marker_is_left_alone(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    old = "# Benchmark results\n\n<!-- echo -->\n| 1 |\n\nA note by hand.\n<!-- /echo -->\n"
    results.write_text(old)
    with pytest.raises(SystemExit, match=r"<!-- echo: notes -->.*delete"):
        common.record("echo", "| 2 |", results)
    assert results.read_text() == old


def test_every_recorded_section_keeps_its_notes_on_a_rerun(tmp_path: Path) -> None:
    """Each section of bench/RESULTS.md has its notes marker, and recording its own table
    again changes nothing: the notes written by hand survive a run."""
    text = common.RESULTS.read_text()
    names = sections(text)
    assert {"echo", "batch", "bench_modes", "soak"} <= set(names)
    copy = tmp_path / "RESULTS.md"
    copy.write_text(text)
    for name in names:
        assert f"<!-- {name}: notes -->" in text, name
        common.record(name, generated(text, name), copy)
    assert copy.read_text() == text
