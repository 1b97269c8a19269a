"""The shared path of every scoring route: prepare off the event loop, one batched network
call (the micro-batcher), finish off the event loop, under the request timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from lcad.models.detector import Detector, Prepared, split_outputs
from lcad.models.lightcurve import LightCurve
from lcad.service.batching import MicroBatcher, OverloadedError
from lcad.service.errors import ApiError
from lcad.service.inputs import prepare_all
from lcad.service.metrics import ServiceMetrics
from lcad.service.settings import Settings

Finish = Callable[[Prepared, np.ndarray, np.ndarray], Any]


async def run(det: Detector, curves: list[LightCurve], finish: Finish, *,
              batcher: MicroBatcher, metrics: ServiceMetrics, settings: Settings) -> list[Any]:
    """`finish(prepared, latent codes, reconstructions)` of every curve, in order."""
    async def work() -> list[Any]:
        prepared, inputs = await asyncio.to_thread(prepare_all, det, curves)
        try:
            z, r = await batcher.submit(det, det.predict_arrays, inputs)
        except OverloadedError as exc:
            metrics.rejected.inc()
            raise ApiError(503, f"overloaded: {exc}; retry shortly", code="overloaded",
                           headers={"Retry-After": "1"}) from None
        pairs = split_outputs(prepared, z, r)
        return await asyncio.to_thread(
            lambda: [finish(p, zz, rr) for p, (zz, rr) in zip(prepared, pairs, strict=True)])

    try:
        with batcher.expect():
            out = await asyncio.wait_for(work(), settings.request_timeout_s)
    except TimeoutError:
        raise ApiError(504, f"request took longer than {settings.request_timeout_s:g} s",
                       code="timeout") from None
    metrics.series.inc(len(curves))
    metrics.points.inc(sum(len(c) for c in curves))
    return out
