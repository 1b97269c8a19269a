"""A scored catalogue: the objects of a file scored by a detector, their embeddings (latent
codes), a 2-D map of them, nearest neighbours, and a ranking that learns from labels.

`Catalogue.build(det, curves)` scores every curve once and keeps what a viewer shows: the
ranked objects, each object's points (flux, errors, reconstruction, point scores, flagged
intervals) and its embedding. An object's embedding is the detector's latent code of it: the
object model's code in whole-curve mode, the mean of its windows' codes otherwise. Distances
are Euclidean after each dimension is scaled by its spread over the catalogue.

Labels re-rank (active anomaly detection, in the spirit of Astronomaly's neighbour score):
an object's relevance is the kernel-weighted mean of the labels (+1 anomaly, -1 not) of the
labelled objects near it in latent space; its ranking score is the percentile of its anomaly
score plus that relevance. Labelled anomalies go first and labelled normals last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lcad.models.errors import LcadError
from lcad.models.results import CurveScore, finite_or_none

if TYPE_CHECKING:
    from lcad.models.detector import Detector
    from lcad.models.lightcurve import LightCurve

LABELS = ("anomaly", "normal")
NEIGHBOURS_FOR_BANDWIDTH = 5  # the kernel's width: the median distance to the 5th neighbour


def embedding_of(latent: np.ndarray) -> np.ndarray:
    """One vector per object from its latent codes (CurveScore.latent, CurveEncoding.latent):
    its object code, or the mean of its windows' codes (NaN where it has none)."""
    z = np.asarray(latent, dtype=float)
    z = z.reshape(-1, z.shape[-1])
    ok = np.isfinite(z).all(axis=1)
    return z[ok].mean(axis=0) if ok.any() else np.full(z.shape[1], np.nan)


@dataclass
class Catalogue:
    scores: list[CurveScore]
    errors: list[np.ndarray | None]  # each object's flux errors, aligned with its points
    units: list[str]  # what each object's input was in ("mag": shown as magnitudes)
    raw: np.ndarray  # (n, E) embeddings as the detector gives them
    center: np.ndarray
    scale: np.ndarray
    axes: np.ndarray  # (2, E) principal axes of the scaled embeddings: the map
    skipped: dict[str, str]
    _window_cache: tuple[np.ndarray, ...] | None = None
    _bandwidth: float | None = None
    _index: dict[str, int] | None = None

    @classmethod
    def build(cls, det: Detector, curves: Sequence[LightCurve]) -> Catalogue:
        result = det.score(curves)
        if len(result) == 0:
            reasons = "; ".join(f"{k}: {v}" for k, v in list(result.skipped.items())[:3])
            raise LcadError(f"no object of the catalogue could be scored ({reasons})")
        by_id = {c.object_id: c for c in curves}
        errors = [by_id[s.object_id].flux_err if s.object_id in by_id else None
                  for s in result.curves]
        units = [by_id[s.object_id].unit if s.object_id in by_id else "flux"
                 for s in result.curves]
        raw = np.array([embedding_of(s.latent) for s in result.curves])
        ok = np.isfinite(raw).all(axis=1)
        center = np.median(raw[ok], axis=0) if ok.any() else np.zeros(raw.shape[1])
        scale = np.std(raw[ok], axis=0) if ok.sum() > 1 else np.ones(raw.shape[1])
        scale = np.where(scale > 1e-9, scale, 1.0)
        unit = (raw[ok] - center) / scale
        axes = np.zeros((2, raw.shape[1]))
        if unit.shape[0] > 1:
            _, _, vt = np.linalg.svd(unit - unit.mean(axis=0), full_matrices=False)
            axes[: min(2, vt.shape[0])] = vt[:2]
        return cls(list(result.curves), errors, units, raw, center, scale, axes,
                   dict(result.skipped))

    # ----- looking up
    @property
    def ids(self) -> list[str]:
        return [s.object_id for s in self.scores]

    def index(self, object_id: str) -> int:
        if self._index is None:
            self._index = {s.object_id: i for i, s in enumerate(self.scores)}
        return self._index[object_id]  # KeyError: not in the catalogue

    def unit(self, raw: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(raw) - self.center) / self.scale

    def place(self, raw: np.ndarray) -> np.ndarray:
        """(n, 2) positions on the map of embeddings `raw` (n, E)."""
        return self.unit(raw) @ self.axes.T

    def similar(self, raw: np.ndarray, k: int = 5, exclude: str | None = None
                ) -> list[tuple[str, float]]:
        """The `k` catalogue objects nearest the embedding `raw` (E,): (object_id, distance)."""
        if raw.shape[-1] != self.raw.shape[1]:
            raise LcadError(f"embedding has {raw.shape[-1]} dimensions, the catalogue's "
                            f"{self.raw.shape[1]}: it was scored by another model")
        if not np.isfinite(raw).all():
            raise LcadError("the curve has no latent code (no window with enough valid "
                            "points): it has no neighbours")
        d = np.linalg.norm(self.unit(self.raw) - self.unit(raw), axis=1)
        d = np.where(np.isfinite(d), d, np.inf)
        if exclude is not None:
            d[[i for i, oid in enumerate(self.ids) if oid == exclude]] = np.inf
        order = [i for i in np.argsort(d, kind="stable") if np.isfinite(d[i])][:k]
        return [(self.ids[i], float(d[i])) for i in order]

    def similar_windows(self, object_id: str, time: float, k: int = 5
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The window of `object_id` nearest `time` (its centre) and the `k` catalogue windows
        nearest it in latent space (each dimension scaled by its spread over all windows),
        none overlapping it: (that window, [{object_id, window_start, window_end, distance,
        error}])."""
        s = self.scores[self.index(object_id)]
        if s.window_start.size == 0 or np.asarray(s.latent).shape[0] != s.window_start.size:
            raise LcadError("this model scores whole objects (no windows): ask for similar "
                            "objects instead")
        codes, owner, start, end, error = self._windows()
        mine = np.flatnonzero(owner == self.index(object_id))
        centre = 0.5 * (start[mine] + end[mine])
        q = mine[int(np.argmin(np.abs(centre - time)))]
        if not np.isfinite(codes[q]).all():
            raise LcadError(f"the window at {start[q]:g}..{end[q]:g} has no latent code "
                            "(too few valid points)")
        spread = np.nanstd(codes, axis=0)
        spread = np.where(spread > 1e-9, spread, 1.0)
        d = np.linalg.norm((codes - codes[q]) / spread, axis=1)
        overlap = (owner == owner[q]) & (start < end[q]) & (end > start[q])
        d = np.where(np.isfinite(d) & ~overlap, d, np.inf)
        order = [i for i in np.argsort(d, kind="stable")[:k] if np.isfinite(d[i])]

        def row(i: int) -> dict[str, Any]:
            return {"object_id": self.scores[owner[i]].object_id,
                    "window_start": float(start[i]), "window_end": float(end[i]),
                    "error": finite_or_none(error[i])}

        return row(q), [{**row(i), "distance": float(d[i])} for i in order]

    def _windows(self) -> tuple[np.ndarray, ...]:
        """Every window's latent code, object, start, end and error (built once)."""
        if self._window_cache is None:
            parts = [(np.asarray(s.latent, np.float32), np.full(s.window_start.size, i),
                      s.window_start, s.window_end, s.window_error)
                     for i, s in enumerate(self.scores)
                     if np.asarray(s.latent).shape[0] == s.window_start.size]
            self._window_cache = tuple(np.concatenate(x) for x in zip(*parts, strict=True))
        return self._window_cache

    # ----- ranking
    def ranking(self, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every object, best first: anomaly score percentile plus the labels' relevance."""
        labels = dict(labels or {})
        n = len(self.scores)
        score = np.array([s.score for s in self.scores], dtype=float)
        finite = np.isfinite(score)
        pct = np.zeros(n)
        if finite.any():  # rank percentile in (0, 1]; an unscored object ranks last
            ranks = np.argsort(np.argsort(score[finite], kind="stable"), kind="stable")
            pct[finite] = (ranks + 1) / finite.sum()
        unit = self.unit(self.raw)
        if labels and self._bandwidth is None:
            ok = np.isfinite(unit).all(axis=1)
            self._bandwidth = kernel_bandwidth(unit[ok]) if ok.sum() > 1 else 1.0
        relevance = label_relevance(unit, self.ids, labels, self._bandwidth)
        key = pct + relevance
        for i, oid in enumerate(self.ids):
            if labels.get(oid) == "anomaly":
                key[i] = 10.0 + pct[i]
            elif labels.get(oid) == "normal":
                key[i] = -10.0 + pct[i]
        order = np.argsort(-key, kind="stable")
        xy = self.place(self.raw)
        rows = []
        for rank, i in enumerate(order, start=1):
            s = self.scores[i]
            rows.append({"object_id": s.object_id, "rank": rank,
                         "score": finite_or_none(s.score), "p_value": finite_or_none(s.p_value),
                         "is_anomalous": bool(s.is_anomalous), "n_points": int(s.time.size),
                         "n_intervals": len(s.intervals), "label": labels.get(s.object_id),
                         "relevance": float(relevance[i]),
                         "x": finite_or_none(xy[i, 0]), "y": finite_or_none(xy[i, 1])})
        return rows


def label_relevance(unit: np.ndarray, ids: Sequence[str], labels: Mapping[str, str],
                    bandwidth: float | None = None) -> np.ndarray:
    """(n,) in (-1, 1): sum_j K(d_ij) y_j / (sum_j K(d_ij) + 1) over the labelled objects j
    (y = +1 anomaly, -1 normal), K(d) = exp(-(d/h)^2 / 2), h the median distance of an
    object to its 5th nearest neighbour (`kernel_bandwidth`). No labels: all zero. The +1
    keeps an object far from every label near zero (its own score decides). Memory: n x
    (labels), never n x n."""
    n = len(ids)
    out = np.zeros(n)
    known = [(i, 1.0 if labels[oid] == "anomaly" else -1.0)
             for i, oid in enumerate(ids) if labels.get(oid) in LABELS]
    ok = np.isfinite(unit).all(axis=1)
    if not known or ok.sum() < 2:
        return out
    x = np.where(ok[:, None], unit, 0.0)
    h = kernel_bandwidth(x[ok]) if bandwidth is None else bandwidth
    idx = np.array([i for i, _ in known])
    y = np.array([v for _, v in known])
    w = np.exp(-0.5 * (pairwise_distances(x, x[idx]) / h) ** 2) * ok[idx][None, :]
    out = (w @ y) / (w.sum(axis=1) + 1.0)
    return np.where(ok, out, 0.0)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances, through the Gram matrix (no a x b x dim)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0))


def kernel_bandwidth(x: np.ndarray, sample: int = 2000) -> float:
    """The median distance of an object to its 5th nearest neighbour (at most `sample`
    objects, a seeded subsample, against all)."""
    rows = x if x.shape[0] <= sample else x[np.random.default_rng(0).choice(
        x.shape[0], sample, replace=False)]
    k = min(NEIGHBOURS_FOR_BANDWIDTH, x.shape[0] - 1)
    kth = [np.partition(pairwise_distances(rows[lo: lo + 256], x), k, axis=1)[:, k]
           for lo in range(0, rows.shape[0], 256)]
    h = float(np.median(np.concatenate(kth)))
    return h if h > 0 else 1.0
