"""The served model: loading (local bundle or MLflow URI), warm-up, readiness, reload."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lcad.models.detector import MAX_BATCH, MIN_BUCKET, Detector
from lcad.registry import load_detector, registry_meta


@dataclass
class ModelState:
    detector: Detector | None = None
    status: str = "empty"  # empty | loading | ready | failed
    reason: str = "no model configured (set LCAD_MODEL_URI)"
    source: str | None = None
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    load_seconds: float | None = None
    loaded_fingerprint: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def ref(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "run_id": self.run_id}

    def use(self, detector: Detector, source: str, meta: dict[str, Any] | None = None,
            seconds: float | None = None) -> None:
        meta = meta or {}
        info = detector.info
        self.detector = detector
        self.source = source
        self.name = meta.get("name") or info.name
        self.version = meta.get("version") or info.version
        self.run_id = meta.get("run_id") or info.run_id
        self.load_seconds = seconds
        self.status, self.reason = "ready", "ok"

    async def load(self, uri: str, name: str | None, warmup: bool, max_rows: int,
                   look_for: str | None = None) -> None:
        """Load and warm a model in a thread, asked for `look_for` (`LCAD_LOOK_FOR`); on
        failure keep serving the previous one."""
        async with self._lock:
            previous = self.status
            self.status, self.reason = "loading", f"loading {uri}"
            t0 = time.perf_counter()
            try:
                seen = await asyncio.to_thread(_fingerprint_or_none, uri)
                detector, meta = await asyncio.to_thread(load_model, uri)
                detector = detector.looking_for(look_for)
                if warmup:
                    await asyncio.to_thread(warm_up, detector, max_rows)
            except Exception as exc:
                if self.detector is not None and previous == "ready":
                    self.status = "ready"
                    self.reason = f"reload of {uri} failed, still serving {self.source}: {exc}"
                else:
                    self.status, self.reason = "failed", f"cannot load model {uri}: {exc}"
                raise
            meta.setdefault("name", name)
            self.use(detector, uri, meta, time.perf_counter() - t0)
            self.loaded_fingerprint = seen


def load_model(uri: str) -> tuple[Detector, dict[str, Any]]:
    """A Detector from a bundle path or an MLflow URI, with registry metadata when known."""
    meta: dict[str, Any] = {}
    if uri.startswith("models:/"):
        meta = registry_meta(uri)
    elif uri.startswith("runs:/"):
        meta["run_id"] = uri.split("/")[1]
    detector = load_detector(uri)
    return detector, meta


def fingerprint(uri: str) -> str | None:
    """What identifies the model behind `uri` now: the registry version an alias points to,
    or the bundle's config.json (size, mtime); None when there is nothing loadable there."""
    if uri.startswith("models:/"):
        meta = registry_meta(uri)
        return f"version {meta['version']}" if meta else None
    if "://" in uri or ":/" in uri:
        return uri  # runs:/ and other fixed URIs do not change
    config = Path(uri) / "config.json"
    try:
        st = config.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _fingerprint_or_none(uri: str) -> str | None:
    try:
        return fingerprint(uri)
    except Exception:
        return None


def warm_up(detector: Detector, max_rows: int) -> None:
    """Run every padded batch size once so no request pays for tracing."""
    size = MIN_BUCKET
    dim = 2 * detector.input_dim
    while True:
        detector.predict_arrays(np.zeros((size, dim), np.float32))
        if size >= min(max_rows, MAX_BATCH):
            break
        size *= 2
