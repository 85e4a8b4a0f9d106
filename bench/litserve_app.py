"""The LitServe echo, for bench/bench_modes.py: ``python bench/litserve_app.py PORT``.

Needs ``pip install litserve`` (not one of owt's extras). It is ready when ``/health``
answers 200 (its inference workers started).
"""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls


class Echo(ls.LitAPI):  # type: ignore[misc]
    def setup(self, device: Any) -> None:
        pass

    # Unannotated: LitServe builds its request model from this signature (a dict annotation
    # would be validated as something else and answered 422).
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return str(request["kwargs"]["name"])

    def predict(self, name: str) -> str:
        return f"Hello, {name}!"

    def encode_response(self, output: str) -> dict[str, str]:
        return {"output": output}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", metavar="PORT", type=int)
    port = parser.parse_args().port
    ls.LitServer(Echo(), accelerator="cpu").run(port=port, generate_client_file=False)
