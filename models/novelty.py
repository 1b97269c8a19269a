"""Window novelty: how far a window is from everything the detector saw in training.

The residual scan (models/scoring.py) asks "is this stretch more than white noise around the
reconstruction?". That question is right when the held-out residuals are white (survey light
curves: the model explains the star, the rest is photometric noise). When they are not (smooth,
strongly structured series: sensors, traffic, daily cycles), the autoencoder also reconstructs
shapes it never saw, and the scan's noise model does not hold. Novelty asks instead "has a
window like this been seen before?": the distance of the window to its nearest training window
in input space (the matrix profile's idea) plus the distance of its latent code to the nearest
training code (what the autoencoder learnt the windows to be), each in units of the typical
nearest-neighbour distance among the training windows themselves (the PyOD kNN detector's
score, in two spaces).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_REFERENCE = 8192  # training windows kept (a random subsample beyond)
QUERY_BLOCK = 1024  # windows compared at a time: (QUERY_BLOCK x MAX_REFERENCE) distances
LAG1_LIMIT = 0.1  # |lag-1 autocorrelation| of held-out residuals above which "auto" = novelty


@dataclass
class Novelty:
    x_ref: np.ndarray  # (n, D) float32 normalised values of training windows
    z_ref: np.ndarray  # (n, L) float32 their latent codes
    x_unit: float  # median distance of a training window to its nearest other one
    z_unit: float
    # where each reference window comes from: (curve number in the reference, start time);
    # used only while calibrating, to keep a held-out window from matching itself
    origin: np.ndarray | None = None

    @classmethod
    def fit(cls, x: np.ndarray, z: np.ndarray, origin: np.ndarray, seed: int = 0) -> Novelty:
        if x.shape[0] < 2:
            raise ValueError("novelty needs at least two training windows")
        if x.shape[0] > MAX_REFERENCE:
            keep = np.sort(np.random.default_rng(seed).choice(x.shape[0], MAX_REFERENCE,
                                                              replace=False))
            x, z, origin = x[keep], z[keep], origin[keep]
        x = np.ascontiguousarray(x, np.float32)
        z = np.ascontiguousarray(z, np.float32)
        return cls(x, z, _unit(x), _unit(z), origin)

    def window_scores(self, x: np.ndarray, z: np.ndarray,
                      exclude: tuple[int, np.ndarray, float] | None = None) -> np.ndarray:
        """(n,) novelty of windows with values `x` (n, D) and latent codes `z` (n, L).

        `exclude` = (curve number, start times (n,), window duration): the windows are from
        that reference curve; its windows overlapping them in time do not count (a held-out
        window must not be its own nearest neighbour)."""
        skip = None
        if exclude is not None and self.origin is not None:
            curve, starts, window = exclude
            same = self.origin[:, 0] == curve
            ref_starts = self.origin[same, 1]
            cols = np.flatnonzero(same)

            def skip(rows: slice) -> tuple[np.ndarray, np.ndarray]:
                near = np.abs(starts[rows][:, None] - ref_starts[None, :]) < window
                r, c = np.nonzero(near)
                return r, cols[c]

        dx = nearest_distance(x, self.x_ref, skip)
        dz = nearest_distance(z, self.z_ref, skip)
        return dx / self.x_unit + dz / self.z_unit

    def save(self, path: Path) -> None:
        np.savez(path, x_ref=self.x_ref, z_ref=self.z_ref,
                 units=np.array([self.x_unit, self.z_unit]))

    @classmethod
    def load(cls, path: Path) -> Novelty:
        with np.load(path, allow_pickle=False) as f:
            units = f["units"]
            return cls(f["x_ref"], f["z_ref"], float(units[0]), float(units[1]))


Skip = Callable[[slice], tuple[np.ndarray, np.ndarray]]


def nearest_distance(q: np.ndarray, ref: np.ndarray, skip: Skip | None = None) -> np.ndarray:
    """Euclidean distance of each row of `q` to its nearest row of `ref` (brute force in
    blocks: a BLAS product per block). `skip(rows)` -> (row in block, ref column) pairs that
    must not count."""
    ref = np.asarray(ref, np.float32)
    r2 = np.einsum("ij,ij->i", ref, ref)
    out = np.empty(q.shape[0], np.float64)
    for lo in range(0, q.shape[0], QUERY_BLOCK):
        block = np.asarray(q[lo: lo + QUERY_BLOCK], np.float32)
        d2 = block @ ref.T
        d2 *= -2.0
        d2 += r2
        d2 += np.einsum("ij,ij->i", block, block)[:, None]
        if skip is not None:
            d2[skip(slice(lo, lo + block.shape[0]))] = np.inf
        out[lo: lo + block.shape[0]] = d2.min(axis=1)
    return np.sqrt(np.maximum(out, 0.0))


def _unit(ref: np.ndarray) -> float:
    """Median distance of a reference row to its nearest other row."""
    d = nearest_distance(ref, ref, lambda rows: (np.arange(rows.stop - rows.start),
                                                 np.arange(rows.start, rows.stop)))
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else 1.0


def lag1_autocorrelation(series: list[np.ndarray]) -> float:
    """Pooled lag-1 autocorrelation of several series (NaN-separated values are skipped)."""
    num = den = 0.0
    for s in series:
        s = np.asarray(s, np.float64)
        ok = np.isfinite(s)
        if ok.sum() < 3:
            continue
        c = np.where(ok, s - s[ok].mean(), np.nan)
        pair = ok[1:] & ok[:-1]
        num += float(np.sum(c[1:][pair] * c[:-1][pair]))
        den += float(np.sum(c[ok] ** 2))
    return num / den if den > 0 else 0.0
