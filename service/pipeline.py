"""The shared path of every scoring route: prepare off the event loop, one batched network
call (the micro-batcher), finish off the event loop, under the request timeout."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from lcad.models.detector import Detector, Prepared, split_outputs
from lcad.models.lightcurve import LightCurve
from lcad.models.results import CurveScore
from lcad.service.batching import MicroBatcher, OverloadedError
from lcad.service.errors import ApiError
from lcad.service.inputs import prepare_all
from lcad.service.metrics import ServiceMetrics
from lcad.service.settings import Settings

Finish = Callable[[Prepared, np.ndarray, np.ndarray], Any]
# a group's answers from its prepared curves and their stacked network outputs
FinishAll = Callable[[list[Prepared], np.ndarray, np.ndarray], list[Any]]
T = TypeVar("T")

# Whole-curve (survey) models: a request's preparing and finishing are many small numpy calls
# that hold the GIL, so two worker threads doing them at once only take turns at it and
# lose time switching (bench.survey_throughput: 4 clients got 202 objects/s, 1 client 305).
# They run one at a time; the network call and other models' work are not held back.
_SURVEY_STEPS = threading.Lock()


def _one_at_a_time(det: Detector, fn: Callable[..., T]) -> Callable[..., T]:
    if det.config.preprocess.mode != "whole":
        return fn

    def call(*args: Any) -> T:
        with _SURVEY_STEPS:
            return fn(*args)
    return call


def chunks(curves: list[LightCurve], points: int) -> list[tuple[int, list[LightCurve]]]:
    """Consecutive groups of curves of about `points` points each (a longer curve alone):
    (index of the group's first curve, the group)."""
    out: list[tuple[int, list[LightCurve]]] = []
    start, size = 0, 0
    for i, c in enumerate(curves):
        if i > start and size + len(c) > points:
            out.append((start, curves[start:i]))
            start, size = i, 0
        size += len(c)
    if start < len(curves):
        out.append((start, curves[start:]))
    return out


def each(finish: Finish) -> FinishAll:
    """`finish(prepared, latent codes, reconstructions)` curve by curve."""
    def finish_all(prepared: list[Prepared], z: np.ndarray, r: np.ndarray) -> list[Any]:
        pairs = split_outputs(prepared, z, r)
        return [finish(p, zz, rr) for p, (zz, rr) in zip(prepared, pairs, strict=True)]
    return finish_all


def scores(det: Detector, threshold: float | None, then: Callable[[CurveScore], Any]
           ) -> FinishAll:
    """`then(score)` of each curve's score, the group scored together
    (`Detector.finish_scores`)."""
    def finish_all(prepared: list[Prepared], z: np.ndarray, r: np.ndarray) -> list[Any]:
        return [then(c) for c in det.finish_scores(prepared, z, r, threshold)]
    return finish_all


async def run(det: Detector, curves: list[LightCurve], finish: FinishAll, *,
              batcher: MicroBatcher, metrics: ServiceMetrics, settings: Settings) -> list[Any]:
    """`finish(prepared, latent codes, reconstructions)` of each group of curves (`each`,
    `scores`), the answers of every curve in order.

    The request is streamed through in groups of about `stream_batches` x
    `max_batch_rows` points (LCAD_STREAM_BATCHES; 0: the whole request at once): each
    group's windows, network outputs and scoring temporaries are dropped once its curves are
    finished, so a request holds one group's working set at a time, not all of its curves'
    (16 clients' requests of 100 curves held ~2 GB at once). A group's network call is still
    shared with other requests' by the micro-batcher. Every step is queued with the
    request's start time, so the oldest request's groups go first (see batching.py)."""
    started = asyncio.get_running_loop().time()

    async def work() -> list[Any]:
        out: list[Any] = []
        points = settings.stream_batches * settings.max_batch_rows
        for first, group in (chunks(curves, points) if points else [(0, curves)]):
            prepared, inputs = await batcher.offload(
                started, _one_at_a_time(det, prepare_all), det, group, first)
            try:
                z, r = await batcher.submit(det, det.predict_arrays, inputs, started)
            except OverloadedError as exc:
                metrics.rejected.inc()
                raise ApiError(503, f"overloaded: {exc}; retry shortly", code="overloaded",
                               headers={"Retry-After": "1"}) from None
            del inputs
            out.extend(await batcher.offload(started, _one_at_a_time(det, finish),
                                             prepared, z, r))
            del prepared, z, r
        return out

    try:
        with batcher.expect():
            out = await asyncio.wait_for(work(), settings.request_timeout_s)
    except TimeoutError:
        raise ApiError(504, f"request took longer than {settings.request_timeout_s:g} s",
                       code="timeout") from None
    metrics.series.inc(len(curves))
    metrics.points.inc(sum(len(c) for c in curves))
    return out
