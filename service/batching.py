"""Adaptive micro-batching: concurrent requests share one network call.

Requests announce themselves when they start (`expect`), then put their window arrays on a
queue; one worker takes what is there and, only while other announced requests are still on
their way, waits at most `max_wait_s` for them (up to `max_rows` rows); then it runs the
network once in a thread and hands each request its own slice. A lone request never waits.
Rows are computed independently, so answers are identical with and without batching.
A full queue raises `OverloadedError` at once (back-pressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

Outputs = tuple[np.ndarray, np.ndarray]


class OverloadedError(Exception):
    """The queue is full; the caller should retry later."""


@dataclass
class _Item:
    key: Any  # the model the rows were prepared for
    rows: np.ndarray
    future: asyncio.Future[Outputs]


class MicroBatcher:
    def __init__(self, max_rows: int, max_wait_s: float, max_queue: int,
                 observe: Callable[[int, float], None] | None = None):
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.observe = observe
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._carry: _Item | None = None
        self._announced = 0  # requests between expect() and the end of their network call

    @contextlib.contextmanager
    def expect(self) -> Iterator[None]:
        """Mark a request that will submit rows soon, so a batch may wait for it."""
        self._announced += 1
        try:
            yield
        finally:
            self._announced -= 1

    @property
    def pending(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._worker(), name="lcad-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, key: Any, fn: Callable[[np.ndarray], Outputs], rows: np.ndarray
                     ) -> Outputs:
        """Run `fn` on `rows`, batched with other requests for the same `key`."""
        if self._queue is None:
            raise RuntimeError("batcher not started")
        if self._queue.qsize() >= self.max_queue:
            raise OverloadedError(f"{self._queue.qsize()} requests are waiting")
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item((key, fn), rows, future))
        return await future

    async def _next(self, timeout: float | None) -> _Item | None:
        if self._queue is None:
            raise RuntimeError("batcher not started")
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            if first is None:
                continue
            if first.future.cancelled():
                continue
            batch = [first]
            rows = first.rows.shape[0]
            deadline = loop.time() + self.max_wait_s
            while rows < self.max_rows and self._announced > len(batch):
                item = await self._next(deadline - loop.time())
                if item is None:
                    break
                if item.future.cancelled():
                    continue
                if item.key != first.key:
                    self._carry = item  # another model: next batch
                    break
                batch.append(item)
                rows += item.rows.shape[0]
            _, fn = first.key
            stacked = np.concatenate([b.rows for b in batch])
            t0 = time.perf_counter()
            try:
                z, r = await asyncio.to_thread(fn, stacked)
            except Exception as exc:  # hand the failure to every waiting request
                for b in batch:
                    if not b.future.done():
                        b.future.set_exception(exc)
                continue
            if self.observe is not None:
                self.observe(stacked.shape[0], time.perf_counter() - t0)
            lo = 0
            for b in batch:
                hi = lo + b.rows.shape[0]
                if not b.future.done():
                    b.future.set_result((z[lo:hi], r[lo:hi]))
                lo = hi
