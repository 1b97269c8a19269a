"""The app's lifespan: start the micro-batcher, load the model (or use the one given), watch
its source, and stop cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from lcad.models.detector import Detector
from lcad.service.batching import MicroBatcher
from lcad.service.catalogue_state import CatalogueState
from lcad.service.metrics import ServiceMetrics
from lcad.service.model_state import ModelState, fingerprint, warm_up
from lcad.service.settings import Settings

log = logging.getLogger("lcad.service")


async def load_model(uri: str, state: ModelState, settings: Settings,
                     metrics: ServiceMetrics) -> None:
    """Load `uri` into `state`; a failure is logged and left in the state (not raised)."""
    try:
        await state.load(uri, settings.model_name, settings.warmup, settings.max_batch_rows,
                         settings.look_for)
    except Exception as exc:
        log.error("model load failed: %s", exc)
    metrics.ready.set(1 if state.status == "ready" else 0)
    if state.load_seconds is not None:
        metrics.load_seconds.set(state.load_seconds)


async def watch_model(uri: str, every: float, state: ModelState, settings: Settings,
                      metrics: ServiceMetrics) -> None:
    """Reload when the alias moves or the bundle changes, or retry a failed load."""
    while True:
        await asyncio.sleep(every)
        if state.status == "loading":
            continue
        try:
            now = await asyncio.to_thread(fingerprint, uri)
        except Exception as exc:  # the registry is down: keep serving, try again later
            log.warning("model poll of %s failed: %s", uri, exc)
            continue
        if now is None:
            continue
        if now != state.loaded_fingerprint or state.status == "failed":
            log.info("model at %s changed (%s); reloading", uri, now)
            await load_model(uri, state, settings, metrics)


async def build_catalogue(state: ModelState, catalogue: CatalogueState) -> None:
    """Score the catalogue once the first model is ready (routes rescore it after a
    reload)."""
    while state.status != "ready" or state.detector is None:
        if state.status == "failed":
            catalogue.reason = f"no model to score it with: {state.reason}"
        await asyncio.sleep(0.2)
    await catalogue.build(state.detector)


def lifespan(settings: Settings, state: ModelState, metrics: ServiceMetrics,
             batcher: MicroBatcher, detector: Detector | None,
             catalogue: CatalogueState | None = None
             ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan of an app serving `detector`, or the model at `settings.model_uri`."""
    if detector is not None:  # asked for what LCAD_LOOK_FOR says (a model that cannot: raised)
        detector = detector.looking_for(settings.look_for)

    @asynccontextmanager
    async def span(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        tasks: list[asyncio.Task[None]] = []
        if detector is not None:
            if settings.warmup:
                await asyncio.to_thread(warm_up, detector, settings.max_batch_rows)
            state.use(detector, "in-process", {"name": settings.model_name})
            metrics.ready.set(1)
        elif settings.model_uri:
            tasks.append(asyncio.create_task(
                load_model(settings.model_uri, state, settings, metrics)))
            if settings.poll_seconds > 0:
                tasks.append(asyncio.create_task(watch_model(
                    settings.model_uri, settings.poll_seconds, state, settings, metrics)))
        if catalogue is not None and catalogue.source is not None:
            tasks.append(asyncio.create_task(build_catalogue(state, catalogue)))
        try:
            yield
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await batcher.stop()

    return span
