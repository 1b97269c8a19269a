"""The oldest request's work goes first: in the worker threads that prepare and finish
requests, and in the network queue of the micro-batcher."""

import asyncio
import contextvars
import threading

import numpy as np
import pytest

from lcad.service.batching import MicroBatcher, OldestFirst

REQUEST = contextvars.ContextVar("request", default="none")


def test_worker_threads_take_the_oldest_request_first():
    gate = threading.Event()
    order: list[str] = []

    def blocker():
        gate.wait(10)
        return "blocker"

    def job(name):
        order.append(name)
        return name, REQUEST.get()

    async def scenario():
        pool = OldestFirst(workers=1)
        pool.start()
        first = asyncio.create_task(pool.run(0.0, blocker))
        await asyncio.sleep(0.1)  # the only thread is busy
        tasks = []
        for priority, name in ((3.0, "newest"), (1.0, "oldest"), (2.0, "middle"),
                               (1.0, "oldest, second group")):
            REQUEST.set(name)
            tasks.append(asyncio.create_task(pool.run(priority, job, name)))
        await asyncio.sleep(0.1)
        gate.set()
        results = await asyncio.gather(first, *tasks)
        pool.stop()
        return results

    results = asyncio.run(scenario())
    assert order == ["oldest", "oldest, second group", "middle", "newest"]
    # each call ran in the context of the request that queued it
    assert results[1:] == [("newest", "newest"), ("oldest", "oldest"), ("middle", "middle"),
                           ("oldest, second group", "oldest, second group")]


def test_worker_errors_reach_the_request_and_the_threads_go_on():
    def boom():
        raise ValueError("bad curve")

    async def scenario():
        pool = OldestFirst(workers=2)
        with pytest.raises(RuntimeError, match="not started"):
            await pool.run(0.0, sum, [1])
        pool.start()
        with pytest.raises(ValueError, match="bad curve"):
            await pool.run(0.0, boom)
        answer = await pool.run(0.0, sum, [1, 2])
        pool.stop()
        return answer

    assert asyncio.run(scenario()) == 3


def test_network_queue_serves_the_oldest_request_first():
    gate = threading.Event()
    served: list[float] = []

    def net(x):
        gate.wait(10)
        served.append(float(x[0, 0]))
        return x, x

    async def scenario():
        b = MicroBatcher(max_rows=1, max_wait_s=0, max_queue=10)
        b.start()
        first = asyncio.create_task(b.submit("k", net, np.zeros((1, 1)), priority=0.0))
        await asyncio.sleep(0.1)  # the network is busy with the first
        later = [asyncio.create_task(b.submit("k", net, np.full((1, 1), p), priority=p))
                 for p in (5.0, 1.0, 3.0)]
        await asyncio.sleep(0.1)
        gate.set()
        results = await asyncio.gather(first, *later)
        await b.stop()
        return results

    results = asyncio.run(scenario())
    assert served == [0.0, 1.0, 3.0, 5.0]
    assert [float(r[0][0, 0]) for r in results] == [0.0, 5.0, 1.0, 3.0]  # each its own rows
