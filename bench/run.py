"""Run every benchmark in bench/ (``make bench``); each records its section of RESULTS.md.

    python bench/run.py [--seconds N] [--rounds N] [--no-record] [NAME ...]

The options go to every bench, which all take them: ``--seconds`` sets the length of each
timed load of the load benches (modes, echo, endpoint, cache, tail, accesslog, batch); the
benches that count calls or runs instead (process, ray, embed, tts, payload) accept it and
ignore it, as their ``--help`` says. ``--rounds`` sets each bench's rounds. NAMEs pick benches
(``modes`` or ``bench_modes.py``); without any, all run, one after the other, and a failed one
does not stop the rest. ``python bench/bench_NAME.py --help`` tells a bench's own options.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, help="of each timed load (each bench's default)")
    parser.add_argument("--rounds", type=int, help="measured rounds (each bench's default)")
    parser.add_argument("--no-record", action="store_true", help="print the results only")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(BENCHES)}")
    return parser


def passed_on(args: argparse.Namespace) -> list[str]:
    """The options every bench takes, as given here."""
    out = [] if args.seconds is None else ["--seconds", f"{args.seconds:g}"]
    out += [] if args.rounds is None else ["--rounds", str(args.rounds)]
    return out + (["--no-record"] if args.no_record else [])


def main() -> None:
    args = parser().parse_args()
    names = [name.removeprefix("bench_").removesuffix(".py") for name in args.names]
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        sys.exit(f"no bench named {', '.join(unknown)}: there are {', '.join(BENCHES)}")
    failed = []
    for name in names or BENCHES:
        script = BENCHES[name]
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *passed_on(args)], cwd=HERE).returncode:
            failed.append(script.name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
