"""Back-pressure: a full batch queue answers 503 with Retry-After at once."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lcad.service.batching import MicroBatcher, OverloadedError
from tests.conftest import wait_until
from tests.service.conftest import make_client, series_json


def test_full_queue_refuses_at_once():
    gate = threading.Event()

    def slow(x):
        gate.wait(10)
        return x, x

    async def scenario():
        b = MicroBatcher(max_rows=1, max_wait_s=0, max_queue=2)
        b.start()
        first = asyncio.create_task(b.submit("k", slow, np.ones((1, 2))))
        await asyncio.sleep(0.2)  # the worker is busy with the first
        queued = [asyncio.create_task(b.submit("k", slow, np.full((1, 2), i))) for i in (2, 3)]
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        with pytest.raises(OverloadedError, match="2 requests are waiting"):
            await b.submit("k", slow, np.ones((1, 2)))
        refused_in = time.monotonic() - t0
        gate.set()
        results = await asyncio.gather(first, *queued)
        await b.stop()
        return refused_in, results

    refused_in, results = asyncio.run(scenario())
    assert refused_in < 0.05
    assert [float(r[0][0, 0]) for r in results] == [1.0, 2.0, 3.0]  # the accepted all answered


def test_service_answers_503_with_retry_after(tiny_detector, service_curves, monkeypatch):
    real = tiny_detector.predict_arrays
    gate = threading.Event()

    def slow(x):
        gate.wait(20)
        return real(x)

    monkeypatch.setattr(tiny_detector, "predict_arrays", slow)
    body = {"series": [series_json(service_curves[0][1])]}
    with make_client(tiny_detector, max_queue=1, max_batch_rows=1) as client, \
            ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client.post, "/v1/score", json=body) for _ in range(4)]
        # one request holds the network, one waits in the queue: the others are refused
        wait_until(lambda: any(f.done() for f in futures), "a refused request")
        gate.set()
        responses = [f.result() for f in futures]
    codes = sorted(r.status_code for r in responses)
    assert 503 in codes and 200 in codes, codes
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
