"""The served catalogue (LCAD_CATALOGUE / `lcad serve --catalogue`): scored once per model,
in a thread, after the model is ready; rebuilt when another model is loaded. Its labels live
in a SQLite file (service/labels.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from lcad.models.catalogue import Catalogue
from lcad.models.detector import Detector
from lcad.service.errors import ApiError
from lcad.service.labels import LabelStore
from lcad.service.settings import Settings

log = logging.getLogger("lcad.service")


def labels_path(settings: Settings) -> Path | None:
    if settings.labels_path:
        return Path(settings.labels_path)
    if settings.catalogue:
        data = Path(settings.catalogue)
        return data.parent / f"{data.stem}.labels.db"
    return None


@dataclass
class CatalogueState:
    source: str | None = None
    catalogue: Catalogue | None = None
    detector: Detector | None = None  # the model it was scored (or tried) with
    status: str = "none"  # none | building | ready | failed
    reason: str = "no catalogue configured: start with `lcad serve --catalogue DATA` " \
                  "(or LCAD_CATALOGUE)"
    seconds: float | None = None
    labels: LabelStore | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogueState:
        state = cls(source=settings.catalogue)
        path = labels_path(settings)
        if path is not None:
            state.labels = LabelStore(path, catalogue=Path(settings.catalogue or "").name)
        if settings.catalogue:
            state.status, state.reason = "building", "waiting for the model"
        return state

    async def build(self, det: Detector) -> None:
        """Score the catalogue with `det` (in a thread); a failure is kept, not raised."""
        if self.source is None:
            return
        async with self._lock:
            if self.detector is det and self.status == "ready":
                return
            self.status, self.reason = "building", f"scoring {self.source}"
            self.detector = det  # tried with this model: not retried until another comes
            t0 = time.perf_counter()
            try:
                self.catalogue = await asyncio.to_thread(_build, det, self.source)
            except Exception as exc:
                self.catalogue = None
                self.status, self.reason = "failed", f"cannot score catalogue {self.source}: {exc}"
                log.error(self.reason)
                return
            self.seconds = time.perf_counter() - t0
            self.status, self.reason = "ready", "ok"
            log.info("catalogue %s: %d objects scored in %.1f s", self.source,
                     len(self.catalogue.scores), self.seconds)

    async def ready(self, det: Detector) -> Catalogue:
        """The catalogue scored by `det` (scored now if the model changed), or a 4xx/503."""
        if self.source is None:
            raise ApiError(404, self.reason, code="no_catalogue")
        if self.detector is not det and self.status != "building":
            asyncio.get_running_loop().create_task(self.build(det))
            self.status, self.reason = "building", "scoring with the new model"
        if self.status == "failed":
            raise ApiError(503, self.reason, code="catalogue_failed")
        if self.status != "ready" or self.catalogue is None:
            raise ApiError(503, f"catalogue not ready: {self.reason}", code="catalogue_loading",
                           headers={"Retry-After": "5"})
        return self.catalogue

    def store(self) -> LabelStore:
        if self.labels is None:
            raise ApiError(404, self.reason, code="no_catalogue")
        return self.labels


def _build(det: Detector, source: str) -> Catalogue:
    from lcad.models.io import read_curves

    return Catalogue.build(det, read_curves(source))
