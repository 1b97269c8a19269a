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
of the same length, each spanning `factor` times as long. With `scoring.coarse_networks` each
view has its own autoencoder (models/multiscale.py), and the view's novelty has the same parts
as the windows' own; without it, a coarser view is compared in input space only. A point gets,
in each view, the mean novelty of the windows covering it (`scoring.novelty_spread`), and the
largest over the views (the residual scan keeps its most surprising scale the same way).

The parts (`scoring.novelty_parts`), each in units of its typical value among the training
windows: "input", the distance to the nearest training window; "latent", the distance of the
latent code to the nearest training code; "error", the window's reconstruction error (root
mean square, over its median among the training windows): the autoencoder's own evidence.
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


PARTS = ("input", "latent", "error")


class _References:
    """Reference windows' values `x_ref` and codes `z_ref` (with their squared norms, computed
    once), and a window's novelty as the sum of its parts (`PARTS`) in their units."""

    x_ref: np.ndarray
    z_ref: np.ndarray | None
    z_unit: float
    e_unit: float

    @cached_property
    def x_sq(self) -> np.ndarray:
        return squared_norms(np.asarray(self.x_ref, np.float32))

    @cached_property
    def z_sq(self) -> np.ndarray:
        return squared_norms(np.asarray(self.z_ref, np.float32))

    def _parts_sum(self, parts: Sequence[str], x_unit: float, x: np.ndarray,
                   z: np.ndarray | None, err: np.ndarray | None, skip: Skip | None
                   ) -> np.ndarray:
        """Input distance over `x_unit`, latent distance over `z_unit`, rms reconstruction
        error over `e_unit`: the parts named in `parts` that the inputs allow, added up."""
        d = np.zeros(x.shape[0])
        if "input" in parts:
            d += nearest_distance(x, self.x_ref, skip, self.x_sq) / x_unit
        if "latent" in parts and self.z_ref is not None and z is not None:
            d += nearest_distance(z, self.z_ref, skip, self.z_sq) / self.z_unit
        if "error" in parts and err is not None:
            d += np.sqrt(np.maximum(err, 0.0)) / self.e_unit
        return d


@dataclass
class Scale(_References):
    """A coarser view: the training windows of the grid averaged over `factor` points; with
    the view's own network, their latent codes and reconstruction errors too."""

    factor: int
    x_ref: np.ndarray  # (n, D) float32
    unit: float  # median distance to the nearest training window not overlapping in time
    origin: np.ndarray | None = None  # as Novelty.origin
    z_ref: np.ndarray | None = None  # (n, L) latent codes, when the view has a network
    z_unit: float = float("nan")
    e_unit: float = float("nan")  # median rms reconstruction error of the training windows

    @classmethod
    def fit(cls, factor: int, x: np.ndarray, origin: np.ndarray, duration: float,
            seed: int = 0, z: np.ndarray | None = None, err: np.ndarray | None = None
            ) -> Scale | None:
        """None when fewer than two windows have a neighbour outside their own time span.
        `z`, `err`: the windows' latent codes and reconstruction errors (`recon_error`) from
        the view's network."""
        keep = _subsample(x.shape[0], seed)
        x, origin = np.ascontiguousarray(x[keep], np.float32), origin[keep]
        if x.shape[0] < 2:
            return None
        skip = _overlap_skip(origin, origin[:, 0], origin[:, 1], duration)
        d = nearest_distance(x, x, skip)
        d = d[np.isfinite(d) & (d > 0)]
        if d.size < 2:
            return None
        scale = cls(factor, x, float(np.median(d)), origin)
        if z is not None and err is not None:
            scale.z_ref = np.ascontiguousarray(z[keep], np.float32)
            dz = nearest_distance(scale.z_ref, scale.z_ref, skip)
            dz = dz[np.isfinite(dz) & (dz > 0)]
            scale.z_unit = float(np.median(dz)) if dz.size else 1.0
            scale.e_unit = error_unit(err[keep])
        return scale

    @property
    def has_network(self) -> bool:
        return self.z_ref is not None

    def window_scores(self, x: np.ndarray, z: np.ndarray | None = None,
                      err: np.ndarray | None = None,
                      exclude: tuple[int, np.ndarray, float] | None = None,
                      parts: Sequence[str] = ("input",)) -> np.ndarray:
        """(n,) novelty of coarse windows `x` (with their codes `z` and errors `err` when the
        view has a network; input space only otherwise); NaN where `exclude` leaves no
        neighbour."""
        skip = None
        if exclude is not None and self.origin is not None:
            curve, starts, duration = exclude
            skip = _overlap_skip(self.origin, np.full(starts.size, curve), starts, duration)
        if self.z_ref is None or z is None or err is None:
            parts = ("input",)
        d = self._parts_sum(parts, self.unit, x, z, err, skip)
        return np.where(np.isfinite(d), d, np.nan)  # no neighbour left: no score


@dataclass
class CoarseWindows:
    """The windows of one coarser view of a curve (`coarse_windows`)."""

    x: np.ndarray  # (n, n_bands * window) float32 averaged model-unit values, 0 where empty
    mask: np.ndarray  # (n, n_bands * window) float32 1 where a coarse point has data
    err: np.ndarray  # (n, n_bands * window) float32 the mean's error (1 where empty)
    starts: np.ndarray  # (n,) fine grid index where each window starts

    def inputs(self) -> np.ndarray:
        """Network inputs: values then mask, as the fine windows'."""
        return np.concatenate([self.x, self.mask], axis=1)

    def targets(self) -> np.ndarray:
        """Training targets: values, mask, errors."""
        return np.concatenate([self.x, self.mask, self.err], axis=1)


def coarse_windows(values: np.ndarray, mask: np.ndarray, factor: int, window: int,
                   min_valid: float, errors: np.ndarray | None = None) -> CoarseWindows:
    """The (n_bands, n_grid) model-unit grid averaged over `factor` points (masked points
    left out) and cut into windows of `window` coarse points (stride 1, bands side by side,
    empty coarse points 0); windows with fewer than `min_valid` filled points are left out.
    `errors` (n_bands, n_grid): the grid's normalised errors; a coarse point's error is the
    error of its mean (1 where nothing is given)."""
    nb, n = values.shape
    nc = n // factor
    d = nb * window
    if nc < window:
        empty = np.zeros((0, d), np.float32)
        return CoarseWindows(empty, empty, empty, np.zeros(0, np.int64))
    m = mask[:, : nc * factor].reshape(nb, nc, factor)
    v = np.where(m, values[:, : nc * factor].reshape(nb, nc, factor), 0.0)
    count = m.sum(axis=2)
    mean = np.where(count > 0, v.sum(axis=2) / np.maximum(count, 1), 0.0)
    if errors is None:
        cerr = np.ones_like(mean)
    else:
        e2 = np.where(m, np.asarray(errors[:, : nc * factor]).reshape(nb, nc, factor) ** 2, 0.0)
        cerr = np.where(count > 0, np.sqrt(e2.sum(axis=2)) / np.maximum(count, 1), 1.0)
    starts = np.arange(nc - window + 1)
    filled = np.lib.stride_tricks.sliding_window_view((count > 0).sum(axis=0) > 0, window)
    keep = filled.mean(axis=1) >= min_valid

    def cut(grid: np.ndarray) -> np.ndarray:
        x = np.concatenate([np.lib.stride_tricks.sliding_window_view(grid[b], window)[keep]
                            for b in range(nb)], axis=1)
        return np.ascontiguousarray(x, np.float32)

    return CoarseWindows(cut(mean), cut((count > 0).astype(np.float32)), cut(cerr),
                         starts[keep] * factor)


def recon_error(x: np.ndarray, mask: np.ndarray, err: np.ndarray | None, recon: np.ndarray
                ) -> np.ndarray:
    """(n,) mean squared residual of each window over its filled cells (over the errors when
    given: chi2), NaN for an empty window: the training loss's reconstruction term."""
    r = (recon - x) * mask
    if err is not None:
        r = r / err
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.einsum("ij,ij->i", r, r) / count, np.nan)


def error_unit(err: np.ndarray) -> float:
    """Median root mean square reconstruction error of the reference windows (the unit of
    the "error" part); 1 when there is none."""
    e = np.sqrt(err[np.isfinite(err) & (err > 0)])
    return float(np.median(e)) if e.size else 1.0


@dataclass
class Novelty(_References):
    x_ref: np.ndarray  # (n, D) float32 normalised values of training windows
    z_ref: np.ndarray  # (n, L) float32 their latent codes
    x_unit: float  # median distance of a training window to its nearest other one
    z_unit: float
    # where each reference window comes from: (curve number in the reference, start time);
    # keeps a window from matching itself or the windows overlapping it: a held-out part
    # while calibrating, and a training curve scored again (`ref_ids` names the curves)
    origin: np.ndarray | None = None
    scales: list[Scale] = field(default_factory=list)  # coarser views
    e_unit: float = float("nan")  # median rms reconstruction error of the training windows
    parts: tuple[str, ...] = ("input", "latent")  # what a window's novelty adds up (PARTS)
    ref_ids: tuple[str, ...] = ()  # object id of each reference curve (its number in origin)

    def reference_curve(self, object_id: str) -> int | None:
        """The number of the reference curve `object_id` names (a training curve scored
        again), where the bundle knows its reference's windows (saved since session 47).
        Its windows then skip the reference windows overlapping them in time, as
        calibration's self-join does, so that it is not its own nearest neighbour (novelty 0
        everywhere: a NAB series trained on whole and scored found none of its anomalies)."""
        if self.origin is None:
            return None
        return self._ref_numbers.get(object_id)

    @cached_property
    def _ref_numbers(self) -> dict[str, int]:
        numbers: dict[str, int] = {}
        for i, oid in enumerate(self.ref_ids):
            numbers.setdefault(oid, i)
        return numbers

    @classmethod
    def fit(cls, x: np.ndarray, z: np.ndarray, origin: np.ndarray, seed: int = 0,
            scales: Sequence[Scale] = (), err: np.ndarray | None = None,
            parts: Sequence[str] = ("input", "latent"), ref_ids: Sequence[str] = ()
            ) -> Novelty:
        """`err`: the training windows' reconstruction errors (needed for the "error" part);
        `ref_ids`: the object id of each curve `origin` numbers."""
        if x.shape[0] < 2:
            raise ValueError("novelty needs at least two training windows")
        unknown = sorted(set(parts) - set(PARTS))
        if unknown or not parts:
            raise ValueError(f"novelty parts {list(parts)}: choose one or more of {PARTS}")
        keep = _subsample(x.shape[0], seed)
        x = np.ascontiguousarray(x[keep], np.float32)
        z = np.ascontiguousarray(z[keep], np.float32)
        e_unit = error_unit(err[keep]) if err is not None else float("nan")
        return cls(x, z, _unit(x), _unit(z), origin[keep], list(scales), e_unit, tuple(parts),
                   tuple(ref_ids))

    def window_scores(self, x: np.ndarray, z: np.ndarray, err: np.ndarray | None = None,
                      exclude: tuple[int, np.ndarray, float] | None = None) -> np.ndarray:
        """(n,) novelty of windows with values `x` (n, D), latent codes `z` (n, L) and
        reconstruction errors `err` (n,) (`recon_error`; needed for the "error" part).

        `exclude` = (curve number, start times (n,), window duration): the windows are from
        that reference curve; its windows overlapping them in time do not count (a held-out
        window must not be its own nearest neighbour)."""
        skip = None
        if exclude is not None and self.origin is not None:
            curve, starts, window = exclude
            skip = _overlap_skip(self.origin, np.full(starts.size, curve), starts, window)
        if "error" in self.parts and (err is None or not np.isfinite(self.e_unit)):
            raise ValueError("the novelty part 'error' needs the windows' reconstruction "
                             "errors and the reference's")
        return self._parts_sum(self.parts, self.x_unit, x, z, err, skip)

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "x_ref": self.x_ref, "z_ref": self.z_ref,
            "units": np.array([self.x_unit, self.z_unit, self.e_unit]),
            "parts": np.array(self.parts),
            "scales": np.array([[s.factor, s.unit, s.z_unit, s.e_unit]
                                for s in self.scales]).reshape(-1, 4)}
        arrays.update({f"x_ref_{s.factor}": s.x_ref for s in self.scales})
        arrays.update({f"z_ref_{s.factor}": s.z_ref for s in self.scales
                       if s.z_ref is not None})
        if self.origin is not None and self.ref_ids:  # a training curve scored again
            arrays["origin"] = self.origin
            arrays["ref_ids"] = np.array(self.ref_ids, dtype=str)
            arrays.update({f"origin_{s.factor}": s.origin for s in self.scales
                           if s.origin is not None})
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Novelty:
        with np.load(path, allow_pickle=False) as f:
            units = f["units"]
            table = f["scales"] if "scales" in f.files else np.zeros((0, 2))
            scales = []
            for row in table:  # (factor, unit), and (z_unit, e_unit) since multi-scale nets
                k = int(row[0])
                z = f[f"z_ref_{k}"] if f"z_ref_{k}" in f.files else None
                extra = [float(v) for v in row[2:4]] if row.size >= 4 else []
                origin = f[f"origin_{k}"] if f"origin_{k}" in f.files else None
                scales.append(Scale(k, f[f"x_ref_{k}"], float(row[1]), origin, z, *extra))
            parts = tuple(str(p) for p in f["parts"]) if "parts" in f.files else (
                "input", "latent")
            e_unit = float(units[2]) if units.size > 2 else float("nan")
            known = "origin" in f.files and "ref_ids" in f.files
            return cls(f["x_ref"], f["z_ref"], float(units[0]), float(units[1]),
                       f["origin"] if known else None, scales, e_unit, parts,
                       tuple(str(i) for i in f["ref_ids"]) if known else ())


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
        d2 += squared_norms(block)[:, None]
        if skip is not None:
            d2[skip(slice(lo, lo + block.shape[0]))] = np.inf
        # the product finds the nearest row; its distance is then taken from the difference
        # itself, in float64: the expanded form cancels for near neighbours, and its float32
        # rounding depends on how many rows the BLAS call got (a curve scored alone or in a
        # batch would not get the same score)
        best = d2.argmin(axis=1)
        diff = block.astype(np.float64) - ref[best]
        exact = squared_norms(diff)
        out[lo: lo + block.shape[0]] = np.where(np.isfinite(d2[np.arange(best.size), best]),
                                                exact, np.inf)
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
