"""Batched writes: what one loop step writes leaves as one send, and nothing waits longer."""

from __future__ import annotations

import asyncio
from typing import Any

from owt.core.writes import BatchedWrites


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555)}.get(name, default)


def _batched() -> tuple[BatchedWrites, FakeTransport]:
    transport = FakeTransport()
    return BatchedWrites(transport, asyncio.get_running_loop()), transport  # type: ignore[arg-type]


def test_head_and_body_of_one_step_go_out_together_at_the_next_turn() -> None:
    async def main() -> None:
        batched, transport = _batched()
        batched.write(b"HTTP/1.1 200 OK\r\n\r\n")
        batched.write(b"hello")
        assert transport.sent == []  # not yet: the step is still writing
        assert batched.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nhello")
        await asyncio.sleep(0)
        assert transport.sent == [b"HTTP/1.1 200 OK\r\n\r\nhello"]
        batched.write(b"next chunk")  # a later step: its own send
        await asyncio.sleep(0)
        assert transport.sent[1:] == [b"next chunk"]

    asyncio.run(main())


def test_large_writes_and_close_do_not_wait() -> None:
    async def main() -> None:
        batched, transport = _batched()
        big = b"x" * (BatchedWrites.FLUSH_BYTES + 1)
        batched.write(b"head")
        batched.write(big)
        assert transport.sent == [b"head" + big]
        batched.write(b"last")
        batched.close()
        assert transport.sent[-1] == b"last" and transport.closed
        await asyncio.sleep(0)  # the scheduled flush finds nothing left and writes nothing
        assert len(transport.sent) == 2

    asyncio.run(main())


def test_abort_drops_what_is_pending_and_other_calls_pass_through() -> None:
    async def main() -> None:
        batched, transport = _batched()
        batched.write(b"never sent")
        batched.abort()
        await asyncio.sleep(0)
        assert transport.sent == [] and transport.aborted
        assert batched.get_extra_info("peername") == ("127.0.0.1", 5555)

    asyncio.run(main())
