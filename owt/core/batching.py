"""``@batch``: concurrent calls of one adaptor gathered into one call of the model. Stdlib only.

A model is often several times faster on 32 inputs at once than on one input 32 times. A
function that takes a list and returns a list of the same length can be declared batched;
each caller then passes ONE item and gets back ITS item, while concurrent callers in the same
process (a worker's threads, the in-process thread pool, a Ray actor's threads) share one
call::

    @batch(max_size=32, max_wait_ms=5)
    def run(texts: list[str]) -> list[list[float]]:
        return model.encode(texts).tolist()

    # caller A: {"texts": "a cat"}  → [0.1, ...]      caller B: {"texts": "a dog"} → [0.3, ...]

A batch is sent when it holds ``max_size`` items or when its first item has waited
``max_wait_ms`` (at most a minute). If the function raises, every caller of that batch gets
the error; an item of the result that is an exception is raised to its own caller only. The
results must keep the items' order (a set is refused: :func:`_in_order`). With an item hint
(``list[str]``), each caller's item is converted and checked before it joins a batch, so an
item that does not fit is its own caller's 400 (``BadRequest``), no one else's. The
function runs on a thread of its own (one per batched function), so it sees no
``owt.request``. A sync caller waits on its own thread: in a worker process a batch holds at
most ``--worker-threads`` items. A call given up on (its caller left, its timeout passed)
stops waiting at once: an item that still waits is taken back; one in a batch that already
runs is computed anyway, for the batch's other callers' sake.

>>> double = batch(max_size=4)(lambda xs: [2 * x for x in xs])
>>> double(21)
42
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import inspect
import itertools
import logging
import queue
import threading
import time
import typing
from collections.abc import Callable, Mapping, Sequence, Sized
from collections.abc import Set as AbstractSet
from concurrent.futures import Future
from typing import Any

__all__ = ["MAX_WAIT", "Batcher", "batch", "item_hint"]

log = logging.getLogger(__name__)

MAX_WAIT = 60.0  # seconds: the longest max_wait_ms a batch may have
LOOK = 0.05  # seconds between a waiting caller's looks at whether its call was given up on


class Batcher:
    """Gathers single items into batches for ``fn`` on one thread of its own."""

    def __init__(
        self, fn: Callable[[list[Any]], Sequence[Any]], max_size: int, max_wait: float
    ) -> None:
        if max_size < 1:
            raise ValueError("batch(max_size=...) must be at least 1")
        if not 0 <= max_wait <= MAX_WAIT:  # NaN too
            raise ValueError(
                f"batch(max_wait_ms=...) must be from 0 to {MAX_WAIT * 1000:.0f} "
                f"(a minute), not {max_wait * 1000:g}"
            )
        self.fn = fn
        self.max_size = max_size
        self.max_wait = max_wait
        self.batches = 0  # how many calls of fn so far (tests and status read it)
        #: (item, its future, when it came): a batch's wait counts from its first item's coming
        self._queue: queue.SimpleQueue[tuple[Any, Future[Any], float]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, item: Any) -> Future[Any]:
        """Queue one item; the future holds its own result (or exception)."""
        future: Future[Any] = Future()
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    name = f"owt-batch-{getattr(self.fn, '__name__', 'fn')}"
                    thread = threading.Thread(target=self._loop, name=name, daemon=True)
                    thread.start()  # no room for it: this call fails, the next tries again
                    self._thread = thread
        self._queue.put((item, future, time.monotonic()))
        return future

    def _loop(self) -> None:
        while True:
            pending = [self._queue.get()]
            try:
                self._gather(pending)
                live = [(item, f) for item, f, _ in pending if f.set_running_or_notify_cancel()]
                if live:
                    self._run([item for item, _ in live], [f for _, f in live])
            except BaseException as exc:  # a fault of owt's own: its callers hear, batching goes on
                log.exception("batching %s", getattr(self.fn, "__name__", "fn"))
                for _, future, _ in pending:
                    if not future.done():
                        future.set_exception(exc)

    def _gather(self, pending: list[tuple[Any, Future[Any], float]]) -> None:
        """More items, until the batch is full or its first item has waited ``max_wait``
        since it came (items that queued while the last batch ran have waited already).
        An item whose call was given up on leaves: it holds no place in the batch and sets
        no deadline (else a batch would go short, or late by a whole ``max_wait``)."""
        while True:
            pending[:] = [entry for entry in pending if not entry[1].cancelled()]
            if len(pending) >= self.max_size:
                return
            if not pending:
                pending.append(self._queue.get())
                continue
            left = pending[0][2] + self.max_wait - time.monotonic()
            try:
                pending.append(
                    self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                return

    def _run(self, items: list[Any], futures: list[Future[Any]]) -> None:
        self.batches += 1
        try:
            results = _in_order(self.fn(items), len(items))
        except BaseException as exc:  # every caller of the batch sees the function's error
            for future in futures:
                future.set_exception(_own_copy(exc))
            return
        for future, result in zip(futures, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def batch(max_size: int = 32, max_wait_ms: float = 5) -> Callable[[Callable[..., Any]], Any]:
    """Declare that a function of one list parameter takes a batch (see the module doc)."""

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        batcher = Batcher(fn, max_size, max_wait_ms / 1000)
        name, hint = _only_parameter(fn)
        item = item_hint(hint)
        check = _checker(name, item)

        def one(*args: Any, **kwargs: Any) -> Any:
            return _wait(batcher.submit(_item(name, check, args, kwargs)))

        async def one_async(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.wrap_future(batcher.submit(_item(name, check, args, kwargs)))

        wrapper: Any = one_async if inspect.iscoroutinefunction(fn) else one
        if inspect.iscoroutinefunction(fn):
            batcher.fn = _sync_of(fn)
        functools.update_wrapper(wrapper, fn)
        del wrapper.__wrapped__  # callers see the one-item signature below, not the list one
        parameter = inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if item is not inspect.Parameter.empty:
            parameter = parameter.replace(annotation=item)
        wrapper.__signature__ = inspect.Signature([parameter])
        wrapper.__annotations__ = {} if item is inspect.Parameter.empty else {name: item}
        wrapper.batcher = batcher
        return wrapper

    return declare


def _wait(future: Future[Any]) -> Any:
    """The item's result. A call given up on leaves at once: its item is taken back if it
    still waits; in a batch that already runs, it is computed for nobody while the batch
    goes on (on the batch's own thread) for its other callers. Either way this thread
    leaves the call's code, so the call counts as ended and its worker serves on."""
    from owt.core.context import current_call

    call = current_call()
    if call is None:
        return future.result()
    while True:
        try:
            return future.result(timeout=LOOK)
        except concurrent.futures.TimeoutError:
            if not call.given_up:
                continue
            if future.cancel():
                raise concurrent.futures.CancelledError(
                    "the call was given up on while its item waited for a batch"
                ) from None
            if not future.done():
                raise concurrent.futures.CancelledError(
                    "the call was given up on while its batch ran; the batch goes on "
                    "for its other callers"
                ) from None


def _in_order(returned: Any, count: int) -> list[Any]:
    """The ``count`` results a batch function returned, in the order of its items.

    Anything that keeps an order is taken: a list, a tuple, any other sequence, an array, a
    generator or iterator (read once, in the order it yields; at most one result more than
    items, so an endless one is refused too). Refused, as an error of the whole batch:
    text and bytes (one value, not results), a mapping (its keys), and a set or set-like
    view (``set``, ``frozenset``, ``dict.keys()``, ``dict.items()``), whose order is not the
    items' and which merges equal results: each caller would get another's result.
    """
    kind = type(returned).__name__
    if isinstance(returned, (str, bytes, bytearray, memoryview, Mapping)) or not hasattr(
        returned, "__iter__"
    ):
        raise TypeError(
            f"a batched function must return a list of results, one per item, not {kind}"
        )
    if isinstance(returned, AbstractSet):
        raise TypeError(
            f"a batched function must return its results in the order of its items, not a "
            f"{kind}: a set has no order (and merges equal results), so callers would get "
            "each other's results; return a list, e.g. [f(x) for x in items]"
        )
    results = list(itertools.islice(returned, count + 1))
    if len(results) != count:
        many = len(returned) if isinstance(returned, Sized) else f"more than {count}"
        raise ValueError(
            f"a batched function must return one result per item: it got {count} items and "
            f"returned {len(results) if len(results) <= count else many} results"
        )
    return results


def _own_copy(exc: BaseException) -> BaseException:
    """The batch's error for one of its callers: each raises its own copy, so tracebacks do
    not pile up on one exception object raised in many threads."""
    try:
        mine = copy.copy(exc)
    except Exception:
        return exc
    if type(mine) is not type(exc):
        return exc
    return mine.with_traceback(exc.__traceback__)


def _only_parameter(fn: Callable[..., Any]) -> tuple[str, Any]:
    parameters = list(inspect.signature(fn).parameters.values())
    if len(parameters) != 1 or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(
            f"@batch needs a function of exactly one parameter (the list of items); "
            f"{getattr(fn, '__name__', fn)!r} takes ({', '.join(p.name for p in parameters)})"
        )
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an unresolvable hint is no reason to refuse the function
        hints = {}
    return parameters[0].name, hints.get(parameters[0].name, inspect.Parameter.empty)


def item_hint(hint: Any, default: Any = inspect.Parameter.empty) -> Any:
    """``list[str]`` → ``str``: what one caller of a batched function sends (or gets back);
    ``default`` when the hint is no list of one type."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (list, Sequence, tuple) and len(args) == 1:
        return args[0]
    return default


#: What a caller's JSON (or a file part) can hold: such an item is checked by the item hint.
_SENT = frozenset({type(None), bool, int, float, str, list, dict, bytes})


def _item(
    name: str, check: Callable[[Any], Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if len(args) + len(kwargs) != 1 or (kwargs and name not in kwargs):
        raise TypeError(f"a batched function takes one item, as {name!r}")
    value = args[0] if args else kwargs[name]
    return value if check is None or type(value) not in _SENT else check(value)


def _checker(name: str, item: Any) -> Callable[[Any], Any] | None:
    """How a caller's item is converted by the item hint, as a typed endpoint's argument is
    (:mod:`owt.core.typed`), before it joins a batch: an item that does not fit is a 400
    for its own caller, naming its argument, not an error that fails everyone in its batch.
    What only Python code can pass (an array, an image) is the function's to judge."""
    if item is inspect.Parameter.empty or item is Any:
        return None
    from owt.core.errors import BadRequest
    from owt.core.typed import convert_argument  # only batches with an item hint need it

    def check(value: Any) -> Any:
        try:
            return convert_argument(name, value, item)
        except BadRequest as err:
            if isinstance(value, list):  # the whole batch sent by one caller?
                err.message += (
                    f"; a batched function takes ONE item from each caller (as {name!r}) "
                    "and owt gathers concurrent callers' items into its list"
                )
                err.args = (err.message,)
            raise

    return check


def _sync_of(fn: Callable[..., Any]) -> Callable[[list[Any]], Sequence[Any]]:
    """An ``async def`` batch function, run to completion on the batch thread."""

    def run(items: list[Any]) -> Sequence[Any]:
        result: Sequence[Any] = asyncio.run(fn(items))
        return result

    return run
