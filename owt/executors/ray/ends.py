"""How an actor ended, and which call it can tell ended it.

An actor that dies takes the calls running on it. Ray says only that its process is gone
("Worker unexpectedly exits with a connection error code 2"): neither the exit code nor the
call. So an actor notes what it can where the server reads it after the death from any node
— Ray's internal key-value store, in the cluster's GCS (a file would stay on the actor's
node) — under the actor's id:

- an adaptor that calls ``os._exit`` first notes its call, its code file and the exit code
  (:func:`note_exits`). The server answers that call 502 with the code, and runs the calls
  of other code that were beside it, and had not answered yet, again on the replacement
  (see the executor), as it does for a worker process;
- a crash in native code (a segfault, an abort) runs no Python, so nothing can be noted
  soundly (a worker process leaves its fault report in a file the server reads; an actor's
  goes to its log, on its node). Every call on the actor is answered 502 with what is
  known: the actor died, likely of a crash or ``os._exit`` in a call on it, and where its
  log is. So is any other death (killed from outside, out of memory, its node gone).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from owt.core.errors import WorkerDied
from owt.core.workerprocess import exit_naming_the_call

if TYPE_CHECKING:
    from owt.core.host import Host

__all__ = ["ActorEnd", "note_exits", "read_end"]

KEY = "owt:ended:{actor_id}"


class ActorEnd:
    """Why an actor died: ``culprit`` (a call id) and ``code_file`` when it noted them."""

    def __init__(
        self,
        message: str,
        exit_code: int | None = None,
        culprit: str | None = None,
        code_file: str | None = None,
    ) -> None:
        self.message = message
        self.exit_code = exit_code
        self.culprit = culprit
        self.code_file = code_file

    def spares(self, call_id: str, filename: str) -> bool:
        """Whether this call (of the adaptor ``filename``) was only beside what ended the
        actor: owt knows what did, and it was neither this call nor its code (which would
        likely end the next actor too)."""
        if self.culprit is None:
            return False
        return call_id != self.culprit and filename != self.code_file

    def error(self) -> WorkerDied:
        return WorkerDied(self.message, exit_code=self.exit_code)


def note_exits(host: Host, actor_id: str) -> None:
    """In the actor: an adaptor's ``os._exit`` notes its call before the process ends."""
    import os

    from ray.experimental import internal_kv

    def note(message: tuple[Any, ...]) -> None:
        _, text, call_id, code_file, code = message
        value = json.dumps({"message": text, "call": call_id, "file": code_file, "code": code})
        internal_kv._internal_kv_put(KEY.format(actor_id=actor_id), value.encode())

    exit_ = exit_naming_the_call(os._exit, host.call_here, note, process="actor")
    os._exit = exit_  # type: ignore[assignment]


def read_end(info: dict[str, Any], ray_says: str) -> ActorEnd:
    """In the server (blocking): why the actor described by ``info`` died (``ray_says``:
    Ray's cause); its note, if it left one, is taken out of the store."""
    from ray.experimental import internal_kv

    key = KEY.format(actor_id=info.get("actor_id"))
    raw = internal_kv._internal_kv_get(key)
    if raw:
        internal_kv._internal_kv_del(key)
        note = json.loads(raw)
        return ActorEnd(note["message"], note["code"], note["call"], note["file"])
    pid, node = info.get("pid"), info.get("node_ip")
    return ActorEnd(
        f"the Ray actor (pid {pid} on node {node}) died during the call, and owt cannot tell "
        "which call ended it: likely a crash in native code (a segfault, an abort) or "
        "os._exit in a call on it, or its process was killed (out of memory?). Its log tells "
        f"which: worker-*-{pid}.err in the Ray session's logs folder on that node "
        f"(/tmp/ray/session_latest/logs by default). {ray_says}".strip()
    )
