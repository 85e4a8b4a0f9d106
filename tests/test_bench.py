"""The benchmarks' plumbing (bench/common.py, bench/run.py): what a run records, how it
stops what it starts, and the options every bench takes."""

from __future__ import annotations

import argparse
import http.server
import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT, wait_until

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


BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
USAGE_OPTION = re.compile(r"\[--([\w-]+)(?: ([^\]\s|]+))?\]")


def bench_parser(name: str) -> argparse.ArgumentParser:
    module = importlib.import_module(name)
    parser: argparse.ArgumentParser = module.parser()
    return parser


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_takes_the_common_options(name: str) -> None:
    """bench/run.py passes --seconds, --rounds and --no-record to every bench."""
    args = bench_parser(name).parse_args(["--seconds", "1", "--rounds", "1", "--no-record"])
    assert args.no_record is True and args.rounds == 1


@pytest.mark.parametrize("name", [*BENCHES, "soak"])
def test_a_bench_docstring_gives_its_real_defaults(name: str) -> None:
    """The usage line of each bench's docstring (``[--calls 2000]``) is its parser's."""
    module = importlib.import_module(name)
    parser = bench_parser(name)
    usage = module.__doc__.split("\n\n")[1]
    shown = USAGE_OPTION.findall(usage)
    assert shown, usage
    known = {opt: action for action in parser._actions for opt in action.option_strings}
    for option, value in shown:
        action = known[f"--{option}"]
        if value:
            assert action.type is not None
            default = parser.get_default(action.dest)
            assert action.type(value) == default, f"{name}: --{option} {value}"
    assert "--no-record" in usage


def test_run_has_help_of_its_own_and_passes_only_what_it_is_given() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--seconds" in out and "--no-record" in out and "modes" in out
    run = importlib.import_module("run")
    args = run.parser().parse_args(["--seconds", "2", "--no-record", "modes"])
    assert run.passed_on(args) == ["--seconds", "2", "--no-record"]
    assert run.passed_on(run.parser().parse_args([])) == []
    missing = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "nope"], capture_output=True, text=True
    )
    assert missing.returncode != 0 and "no bench named nope" in missing.stderr


def test_the_baseline_app_has_help() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "baseline_app.py"), "--help"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "PORT" in done.stdout, done.stderr


# A server that ignores SIGTERM, with a child that ignores it too (as LitServe's worker did),
# each leaving a file in its temp folder.
IGNORES_TERM = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
STUBBORN = f"""
import os, subprocess, sys, tempfile, time
{IGNORES_TERM}
open(os.path.join(tempfile.gettempdir(), "left-behind"), "w").close()
subprocess.Popen([sys.executable, "-c", {IGNORES_TERM + "time.sleep(60)"!r}])
print(tempfile.gettempdir(), flush=True)
time.sleep(60)
"""


def test_a_server_that_ignores_sigterm_is_killed_with_its_children() -> None:
    with common.started([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, grace=1) as proc:
        assert proc.stdout is not None
        temp = Path(proc.stdout.readline().strip())
        assert (temp / "left-behind").exists()
        assert wait_until(lambda: len(common.group_pids(proc.pid)) == 2, timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert common.group_pids(proc.pid) == []
    assert not temp.exists()  # its temp folder went with it


def test_what_a_run_started_is_found_by_its_environment_and_stopped() -> None:
    """bench_ray stops its clusters' processes by the RAY_TMPDIR they all carry."""
    marker = f"owt-bench-test-{os.getpid()}"
    child = subprocess.Popen(
        [sys.executable, "-c", IGNORES_TERM + "print('ready', flush=True)\ntime.sleep(60)"],
        env={**os.environ, "OWT_BENCH_RUN": marker},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        assert wait_until(lambda: common.pids_with("OWT_BENCH_RUN", marker) == [child.pid])
        common.stop_all(lambda: common.pids_with("OWT_BENCH_RUN", marker), "a run", grace=0.5)
        assert child.wait(5) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]


def test_warming_up_waits_for_a_real_answer() -> None:
    answers = iter([503, 503, 200])

    class Starting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(next(answers))
            self.end_headers()
            self.wfile.write(b"ready")

        def log_message(self, *args: object) -> None:
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), Starting) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/"
        assert common.answered(url, timeout=10).text == "ready"
        server.shutdown()


def test_a_bad_request_is_not_waited_for(owt_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="answered 400"):
        common.answered(owt_server.url + "/?code_b64=!!!", timeout=30)


def test_a_load_nobody_answers_fails_clearly() -> None:
    """A load that got no answer (a server still loading its model) is an error that says
    so, not a rate of 0 to divide by."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections wait in the backlog: nobody answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(RuntimeError, match=r"no request .* was answered"):
            common.load(url, body={"a": 1}, seconds=1, connections=1)


def test_a_negative_difference_is_reported_as_noise() -> None:
    assert common.added(4.94, "--calls") == "adds 4.9 ms"
    assert "nothing measurable" in common.added(-91.1, "--calls")
    assert "-91.1" not in common.added(-91.1, "--calls").split("(")[0]


def test_a_soak_shorter_than_its_warm_up_says_so() -> None:
    soak = importlib.import_module("soak")
    window = {"t": 10, "rps": 100.0, "server_mib": 40.0, "workers_mib": 30.0}
    assert "too short" in soak.steady_state([])[0]
    short = "\n".join(soak.steady_state([window, window]))
    assert "did not finish" in short and "after warm-up" not in short
    long = "\n".join(soak.steady_state([window] * 5))
    assert "server RSS after warm-up: 40.0 → 40.0 MiB (+0.0)" in long
