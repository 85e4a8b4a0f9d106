"""owt.summat — build an adaptor in one expression from composable steps.

    pipe().kwarg("path").open(root_dir="example").bytes()     # an implicit adaptor
    path().f(lambda names: f"Hello {names[0]}!")               # a terse one (no pipe())

Sources read the call (``kwarg``, ``kwargs``, ``input``, ``path``, ``query``, ``json``,
``const``, ``last``); transforms make the next value (``f``, ``cast``, ``exec``, ``identity``,
``clear``, ``ix``, ``get``, ``map``, ``foldl``, ``foldl1``, ``bytes``, ``cond``, ``fork``);
effects touch the machine (``open``, ``importing``, ``installing``, ``shell``); ML helpers
shape model input and output (``sentences``, ``batch``, ``each``, ``sse``, ``json_out``,
``b64``, ``wav``, ``keep``). ``.to(step)`` composes; ``.done()`` gives a plain function.

``Request`` (the same class as ``owt.Request``) is here too, to call a pipe in a test or a
REPL: ``p(Request(path="/a"), name="owt")``.

Stdlib only, so pipes run unchanged in a bare worker virtualenv. See ``docs/summat.md``.
"""

from __future__ import annotations

from owt.core.call import Request
from owt.summat.effects import ShellError
from owt.summat.pipe import STEPS, Pipe, pipe
from owt.summat.step import Context, Step, Values

__all__ = ["STEPS", "Context", "Pipe", "Request", "ShellError", "Step", "Values", "pipe"]
