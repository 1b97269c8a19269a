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

One window sees `window` grid points; a daily cycle of 5-minute data is 288. So novelty also
looks at coarser views (`Scale`): the grid averaged over `factor` points and cut into windows
of the same length, each spanning `factor` times as long (input space only: the network knows
the fine windows). A point gets the largest novelty, over the views, of the windows covering
it (the residual scan keeps its most surprising scale the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

MAX_REFERENCE = 8192  # training windows kept (a random subsample beyond)
QUERY_BLOCK = 1024  # windows compared at a time: (QUERY_BLOCK x MAX_REFERENCE) distances
LAG1_LIMIT = 0.1  # |lag-1 autocorrelation| of held-out residuals above which "auto" = novelty
# share of consecutive fluxes that repeat exactly, from which "auto" = novelty: at half, the
# point-to-point noise estimate (the median |difference|) is 0, so there is no noise for the
# scan to test against (a synthetic or quantised series, mostly constant)
REPEAT_LIMIT = 0.5


@dataclass
class Scale:
    """A coarser view: the training windows of the grid averaged over `factor` points."""

    factor: int
    x_ref: np.ndarray  # (n, D) float32
    unit: float  # median distance to the nearest training window not overlapping in time
    origin: np.ndarray | None = None  # as Novelty.origin

    @classmethod
    def fit(cls, factor: int, x: np.ndarray, origin: np.ndarray, duration: float,
            seed: int = 0) -> Scale | None:
        """None when fewer than two windows have a neighbour outside their own time span."""
        keep = _subsample(x.shape[0], seed)
        x, origin = np.ascontiguousarray(x[keep], np.float32), origin[keep]
        if x.shape[0] < 2:
            return None
        d = nearest_distance(x, x, _overlap_skip(origin, origin[:, 0], origin[:, 1],
                                                 duration))
        d = d[np.isfinite(d) & (d > 0)]
        if d.size < 2:
            return None
        return cls(factor, x, float(np.median(d)), origin)

    def window_scores(self, x: np.ndarray,
                      exclude: tuple[int, np.ndarray, float] | None = None) -> np.ndarray:
        """(n,) novelty of coarse windows `x`; NaN where `exclude` leaves no neighbour."""
        skip = None
        if exclude is not None and self.origin is not None:
            curve, starts, duration = exclude
            skip = _overlap_skip(self.origin, np.full(starts.size, curve), starts, duration)
        d = nearest_distance(x, self.x_ref, skip, self.x_sq) / self.unit
        return np.where(np.isfinite(d), d, np.nan)

    @cached_property
    def x_sq(self) -> np.ndarray:
        return squared_norms(np.asarray(self.x_ref, np.float32))


def coarse_windows(values: np.ndarray, mask: np.ndarray, factor: int, window: int,
                   min_valid: float) -> tuple[np.ndarray, np.ndarray]:
    """The (n_bands, n_grid) model-unit grid averaged over `factor` points (masked points
    left out) and cut into windows of `window` coarse points (stride 1, bands side by side,
    empty coarse points 0). Returns (x (n, n_bands * window) float32, the fine grid index
    where each window starts); windows with fewer than `min_valid` filled points are left out.
    """
    nb, n = values.shape
    nc = n // factor
    if nc < window:
        return np.zeros((0, nb * window), np.float32), np.zeros(0, np.int64)
    m = mask[:, : nc * factor].reshape(nb, nc, factor)
    v = np.where(m, values[:, : nc * factor].reshape(nb, nc, factor), 0.0)
    count = m.sum(axis=2)
    mean = np.where(count > 0, v.sum(axis=2) / np.maximum(count, 1), 0.0)
    starts = np.arange(nc - window + 1)
    x = np.concatenate([np.lib.stride_tricks.sliding_window_view(mean[b], window)
                        for b in range(nb)], axis=1).astype(np.float32)
    filled = np.lib.stride_tricks.sliding_window_view((count > 0).sum(axis=0) > 0, window)
    keep = filled.mean(axis=1) >= min_valid
    return np.ascontiguousarray(x[keep]), starts[keep] * factor


@dataclass
class Novelty:
    x_ref: np.ndarray  # (n, D) float32 normalised values of training windows
    z_ref: np.ndarray  # (n, L) float32 their latent codes
    x_unit: float  # median distance of a training window to its nearest other one
    z_unit: float
    # where each reference window comes from: (curve number in the reference, start time);
    # used only while calibrating, to keep a held-out window from matching itself
    origin: np.ndarray | None = None
    scales: list[Scale] = field(default_factory=list)  # coarser views, input space only

    @classmethod
    def fit(cls, x: np.ndarray, z: np.ndarray, origin: np.ndarray, seed: int = 0,
            scales: Sequence[Scale] = ()) -> Novelty:
        if x.shape[0] < 2:
            raise ValueError("novelty needs at least two training windows")
        keep = _subsample(x.shape[0], seed)
        x = np.ascontiguousarray(x[keep], np.float32)
        z = np.ascontiguousarray(z[keep], np.float32)
        return cls(x, z, _unit(x), _unit(z), origin[keep], list(scales))

    def window_scores(self, x: np.ndarray, z: np.ndarray,
                      exclude: tuple[int, np.ndarray, float] | None = None) -> np.ndarray:
        """(n,) novelty of windows with values `x` (n, D) and latent codes `z` (n, L).

        `exclude` = (curve number, start times (n,), window duration): the windows are from
        that reference curve; its windows overlapping them in time do not count (a held-out
        window must not be its own nearest neighbour)."""
        skip = None
        if exclude is not None and self.origin is not None:
            curve, starts, window = exclude
            skip = _overlap_skip(self.origin, np.full(starts.size, curve), starts, window)
        dx = nearest_distance(x, self.x_ref, skip, self.x_sq)
        dz = nearest_distance(z, self.z_ref, skip, self.z_sq)
        return dx / self.x_unit + dz / self.z_unit

    @cached_property
    def x_sq(self) -> np.ndarray:
        return squared_norms(np.asarray(self.x_ref, np.float32))

    @cached_property
    def z_sq(self) -> np.ndarray:
        return squared_norms(np.asarray(self.z_ref, np.float32))

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "x_ref": self.x_ref, "z_ref": self.z_ref,
            "units": np.array([self.x_unit, self.z_unit]),
            "scales": np.array([[s.factor, s.unit] for s in self.scales]).reshape(-1, 2)}
        arrays.update({f"x_ref_{s.factor}": s.x_ref for s in self.scales})
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Novelty:
        with np.load(path, allow_pickle=False) as f:
            units = f["units"]
            table = f["scales"] if "scales" in f.files else np.zeros((0, 2))
            scales = [Scale(int(k), f[f"x_ref_{int(k)}"], float(u)) for k, u in table]
            return cls(f["x_ref"], f["z_ref"], float(units[0]), float(units[1]),
                       scales=scales)


Skip = Callable[[slice], tuple[np.ndarray, np.ndarray]]


def _subsample(n: int, seed: int) -> slice | np.ndarray:
    """The rows kept of `n`: all, or MAX_REFERENCE of them (a seeded random subsample, in
    order)."""
    if n <= MAX_REFERENCE:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_REFERENCE, replace=False))


def _overlap_skip(origin: np.ndarray, curves: np.ndarray, starts: np.ndarray,
                  duration: float) -> Skip:
    """Skip the reference windows (`origin`: curve, start time) of the query's own curve
    that start less than `duration` from the query's start (they overlap it in time)."""

    def skip(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        q_curve, q_start = curves[rows], starts[rows]
        # only the reference windows of the curves in this block (usually one curve of many)
        cols = np.flatnonzero(np.isin(origin[:, 0], np.unique(q_curve)))
        ref = origin[cols]
        near = (ref[:, 0][None, :] == q_curve[:, None]) & (
            np.abs(q_start[:, None] - ref[:, 1][None, :]) < duration)
        r, c = np.nonzero(near)
        return r, cols[c]

    return skip


def squared_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def nearest_distance(q: np.ndarray, ref: np.ndarray, skip: Skip | None = None,
                     ref_sq: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distance of each row of `q` to its nearest row of `ref` (brute force in
    blocks: a BLAS product per block). `skip(rows)` -> (row in block, ref column) pairs that
    must not count. `ref_sq`: `squared_norms(ref)`, when the caller keeps it (a reference
    of 8,192 windows costs 0.5 ms to square again for every one-window query)."""
    ref = np.asarray(ref, np.float32)
    r2 = squared_norms(ref) if ref_sq is None else ref_sq
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


def repeat_fraction(curves: Sequence[Any]) -> float | None:
    """Share of consecutive observed fluxes (same band) that are exactly equal, pooled over
    the curves without flux errors; None when every curve has its own errors (the noise is
    then given, not estimated)."""
    same = pairs = 0
    for c in curves:
        if c.flux_err is not None:
            continue
        labels = c.band_labels()
        for b in c.bands:
            f = c.flux[c.mask & (labels == b)]
            same += int(np.count_nonzero(f[1:] == f[:-1]))
            pairs += max(f.size - 1, 0)
    return same / pairs if pairs else None
