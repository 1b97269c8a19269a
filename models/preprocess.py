"""Resample light curves onto a uniform grid (gap mask included) and normalise windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lcad.models.config import PreprocessConfig
from lcad.models.errors import LightCurveError
from lcad.models.lightcurve import DEFAULT_BAND, LightCurve

MAX_GRID_POINTS = 20_000_000
# `resample_whole`: curves at a time, and the cells of their padded (band, point) arrays
# (curves x bands x the group's widest curve) at most: 16 MB an array
WHOLE_GROUP, WHOLE_CELLS = 512, 2 ** 21
MAD_TO_SIGMA = 1.4826


@dataclass
class Resampled:
    """One curve on its grid: (n_bands, n_grid) values, mask and errors, plus the point map."""

    object_id: str
    grid_time: np.ndarray  # (n_grid,)
    values: np.ndarray  # (n_bands, n_grid), NaN where masked
    mask: np.ndarray  # (n_bands, n_grid) bool
    err: np.ndarray  # (n_bands, n_grid)
    point_band: np.ndarray  # (n_points,) band index of every input point
    point_grid: np.ndarray  # (n_points,) nearest grid index of every input point
    object_offset: np.ndarray  # (n_bands,) median of each band (robust normalisation)
    object_scale: np.ndarray  # (n_bands,) MAD-sigma of each band

    @property
    def n_grid(self) -> int:
        return int(self.grid_time.size)


@dataclass(frozen=True)
class CurveAnchor:
    """What a whole curve fixes for the pieces of it scored apart (`Preprocessor.anchor`):
    where its grid starts, and each band's level, scatter and noise. Pieces resampled with
    it share the curve's grid points and normalisation, so their windows are the curve's."""

    t0: float
    offset: np.ndarray  # (n_bands,)
    scale: np.ndarray  # (n_bands,)
    noise: np.ndarray  # (n_bands,) point-to-point scatter (the errors when there are none)


def _median(v: np.ndarray) -> float:
    """np.median of a non-empty 1-D array of finite values (the same value; sorting a short
    array costs a tenth of np.median's generic path)."""
    s = np.sort(v)
    k = s.size // 2
    return float(s[k]) if s.size % 2 else float((s[k - 1] + s[k]) / 2)


def robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD-sigma of the finite values; std when the MAD degenerates (a flat
    majority), then a small fraction of the level for a constant series."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0, 1.0
    med = _median(v)
    scale = MAD_TO_SIGMA * _median(np.abs(v - med))
    # std <= the range: the (costly) std only where the MAD may be degenerate against it
    if not (np.isfinite(scale) and scale > 1e-6 * float(np.ptp(v))):
        std = float(np.std(v))
        if not (np.isfinite(scale) and scale > 1e-6 * std):  # degenerate MAD: a flat majority
            scale = std
    if not (np.isfinite(scale) and scale > 0):
        scale = max(abs(med), 1.0) * 1e-6 if np.isfinite(med) else 1.0
    return med, scale


def estimate_noise(flux: np.ndarray) -> float:
    """Point-to-point scatter (MAD of differences / sqrt 2): the noise when errors are absent."""
    v = flux[np.isfinite(flux)]
    if v.size < 3:
        return robust_location_scale(v)[1]
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(np.diff(v)))) / np.sqrt(2.0)
    if not (np.isfinite(sigma) and sigma > 0):
        sigma = robust_location_scale(v)[1]
    return sigma


def resample_band(
    t_obs: np.ndarray,
    f_obs: np.ndarray,
    grid: np.ndarray,
    step: float,
    max_gap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each grid point takes the nearest observation when one is within half a step of it,
    else linear interpolation across gaps up to `max_gap` steps; longer gaps are masked.
    Returns (values, valid). `f_obs` may be (k, n): k series at the same times (a band's
    fluxes and errors) resampled with one search.
    """
    n = t_obs.size
    if n == 0:
        return np.full(f_obs.shape[:-1] + grid.shape, np.nan), np.zeros(grid.size, dtype=bool)
    idx = np.searchsorted(t_obs, grid, side="right")
    left = np.clip(idx - 1, 0, n - 1)
    right = np.clip(idx, 0, n - 1)
    has_left = idx > 0
    has_right = idx < n
    return _grid_values(grid, t_obs[left], t_obs[right], f_obs[..., left], f_obs[..., right],
                        has_left, has_right, step, max_gap)


def _grid_values(grid: np.ndarray, tl: np.ndarray, tr: np.ndarray, fl: np.ndarray,
                 fr: np.ndarray, has_left: np.ndarray, has_right: np.ndarray,
                 step: float | np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """`resample_band`'s rule, given each grid point's neighbouring observations (times
    tl <= grid < tr, values fl, fr; `has_*`: that neighbour exists): (values, valid)."""
    with np.errstate(invalid="ignore"):  # no neighbour on either side: inf - inf, never used
        span = tr - tl
        interp_ok = has_left & has_right & (span <= max_gap * step)
        w = np.where(span > 0, (grid - tl) / np.where(span > 0, span, 1.0), 0.0)
        interp = fl + w * (fr - fl)
        dl = np.where(has_left, grid - tl, np.inf)
        dr = np.where(has_right, tr - grid, np.inf)
    nearest = np.where(dl <= dr, fl, fr)
    near_ok = np.minimum(dl, dr) <= 0.5 * step
    # an observation exactly on the grid point
    exact = has_left & (dl == 0)
    # nearest first: interpolating a regular cadence that drifts against the grid would
    # average neighbouring points, shrinking the noise and smearing one-point events
    values = np.where(exact, fl, np.where(near_ok, nearest, interp))
    valid = exact | interp_ok | near_ok
    return np.where(valid, values, np.nan), valid


@dataclass
class Preprocessor:
    """The fitted preprocessing: grid step, bands and (for global/minmax) band statistics."""

    config: PreprocessConfig
    cadence: float
    bands: list[str]
    band_offset: list[float]
    band_scale: list[float]

    # ---- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(cls, curves: Sequence[LightCurve], config: PreprocessConfig) -> Preprocessor:
        if not curves:
            raise LightCurveError("no light curves to fit the preprocessing on")
        bands = list(config.bands) if config.bands else sorted({b for c in curves for b in c.bands})
        cadence = config.cadence
        if cadence is None and config.mode != "whole":  # "auto" unresolved: a grid
            diffs = []
            for c in curves:
                labels = c.band_labels()
                for b in c.bands:
                    t = c.time[(labels == b) & c.mask]
                    d = np.diff(t)
                    diffs.append(d[d > 0])
            all_d = np.concatenate(diffs) if diffs else np.zeros(0)
            if all_d.size == 0:
                raise LightCurveError("cannot infer a cadence: no curve has two distinct times")
            cadence = float(np.median(all_d))
        offsets, scales = [], []
        for b in bands:
            vals = np.concatenate(
                [c.flux[(c.band_labels() == b) & c.mask] for c in curves] or [np.zeros(0)]
            )
            vals = vals[np.isfinite(vals)]
            if config.normalization == "minmax" and vals.size:
                lo, hi = float(vals.min()), float(vals.max())
                offsets.append(lo)
                scales.append(hi - lo if hi > lo else 1.0)
            elif vals.size:
                mean, std = float(vals.mean()), float(vals.std())
                offsets.append(mean)
                scales.append(std if std > 0 else 1.0)
            else:
                offsets.append(0.0)
                scales.append(1.0)
        return cls(config, float(cadence or 0.0), bands, offsets, scales)

    # ---- resampling ----------------------------------------------------------------------
    def _point_bands(self, curve: LightCurve) -> np.ndarray:
        """(n_points,) band index of every point; unknown bands raise."""
        labels = np.array([DEFAULT_BAND], dtype=object) if curve.band is None else curve.band
        index = np.full(labels.size, -1, np.int64)
        for i, b in enumerate(self.bands):  # a few bands: one comparison each (no sort)
            index[labels == b] = i
        if (index < 0).any():
            unknown = sorted({str(b) for b in labels[index < 0]})
            raise LightCurveError(
                f"unknown band(s) {unknown}; the model knows {self.bands}",
                object_id=curve.object_id,
                field="band",
            )
        if curve.band is None:  # one band: no per-point work
            return np.full(curve.time.size, index[0], np.int64)
        return index

    def anchor(self, curve: LightCurve) -> CurveAnchor:
        """The grid origin and band statistics of a whole curve (see `CurveAnchor`)."""
        point_band = self._point_bands(curve)
        nb = len(self.bands)
        offset, scale, noise = np.zeros(nb), np.ones(nb), np.ones(nb)
        for i in range(nb):
            f_b = curve.flux[(point_band == i) & curve.mask]
            offset[i], scale[i] = robust_location_scale(f_b)
            noise[i] = estimate_noise(f_b) if f_b.size else 1.0
        return CurveAnchor(float(curve.time[curve.mask].min()), offset, scale, noise)

    def resample(self, curve: LightCurve, anchor: CurveAnchor | None = None,
                  align: int = 1) -> Resampled:
        """Put one curve on its uniform grid; each band interpolated on the shared grid.

        With `anchor` (sliding mode), the curve is a piece of the anchored one: its grid is
        the anchored grid from the last index at or before its first time that is a multiple
        of `align`, and the band statistics are the anchor's.
        """
        cfg = self.config
        point_band = self._point_bands(curve)
        t_valid = curve.time[curve.mask]
        t0, t1 = float(t_valid.min()), float(t_valid.max())
        if anchor is not None and cfg.mode != "whole":
            k0 = int(np.floor((t0 - anchor.t0) / self.cadence + 1e-9))
            k0 -= k0 % align
            t0 = anchor.t0 + self.cadence * k0
        if cfg.mode == "whole":
            if t1 <= t0:
                raise LightCurveError(
                    "needs at least two distinct times", object_id=curve.object_id, field="time"
                )
            step = (t1 - t0) / (cfg.window - 1)
            n_grid = cfg.window
        else:
            step = self.cadence
            span_steps = (t1 - t0) / step
            if span_steps + 1 > MAX_GRID_POINTS:
                raise LightCurveError(
                    f"time span {t1 - t0:g} at cadence {step:g} needs {span_steps:.3g} grid "
                    f"points (limit {MAX_GRID_POINTS}); check the time unit",
                    object_id=curve.object_id,
                    field="time",
                )
            n_grid = int(np.ceil(span_steps - 1e-9)) + 1
        grid = t0 + step * np.arange(n_grid) if anchor is None or cfg.mode == "whole" \
            else anchor.t0 + step * (k0 + np.arange(n_grid))
        nb = len(self.bands)
        values = np.full((nb, n_grid), np.nan)
        mask = np.zeros((nb, n_grid), dtype=bool)
        err = np.ones((nb, n_grid))
        offset = np.zeros(nb)
        scale = np.ones(nb)
        for i in range(nb):
            sel = (point_band == i) & curve.mask
            t_b, f_b = curve.time[sel], curve.flux[sel]
            if anchor is None:
                offset[i], scale[i] = robust_location_scale(f_b)
            if curve.flux_err is not None:  # values and errors with one search
                (values[i], e_b), mask[i] = resample_band(
                    t_b, np.stack([f_b, curve.flux_err[sel]]), grid, step, cfg.max_gap)
                err[i] = np.where(mask[i], e_b, 1.0)
            else:
                values[i], mask[i] = resample_band(t_b, f_b, grid, step, cfg.max_gap)
                err[i] = anchor.noise[i] if anchor is not None \
                    else estimate_noise(f_b) if t_b.size else 1.0
        if anchor is not None:
            offset, scale = anchor.offset.copy(), anchor.scale.copy()
        point_grid = np.clip(np.rint((curve.time - grid[0]) / step), 0, n_grid - 1
                             ).astype(np.int64)
        return Resampled(curve.object_id, grid, values, mask, err, point_band, point_grid,
                         offset, scale)

    def resample_whole(self, curves: Sequence[LightCurve]) -> list[Resampled | None]:
        """`resample` of many curves in whole-curve mode at once: the same arrays, to the
        bit, with every band of every curve in shared array operations instead of ~40 small
        ones a curve (survey throughput, issue 18). None where the per-curve path is left to
        decide (and to raise): a curve without errors, without a usable or a finite point,
        with one distinct time, an unknown band or unsorted times."""
        out: list[Resampled | None] = [None] * len(curves)
        take, labels = [], []
        for i, c in enumerate(curves):
            if c.flux_err is None or not c.mask.any():
                continue
            try:
                labels.append(self._point_bands(c))
            except LightCurveError:
                continue
            take.append(i)
        # groups of curves whose padded (band, point) arrays stay small: a long curve among
        # short ones widens only its own group's
        lo = 0
        while lo < len(take):
            hi, widest = lo, 0
            while hi < len(take) and hi - lo < WHOLE_GROUP:
                widest = max(widest, curves[take[hi]].time.size)
                if hi > lo and (hi + 1 - lo) * widest * len(self.bands) > WHOLE_CELLS:
                    break
                hi += 1
            group = [curves[i] for i in take[lo:hi]]
            for i, r in zip(take[lo:hi], self._resample_group(group, labels[lo:hi]),
                            strict=True):
                out[i] = r
            lo = hi
        return out

    def _resample_group(self, cs: list[LightCurve], labels: list[np.ndarray]
                        ) -> list[Resampled | None]:
        """`resample_whole` of curves that have errors, a usable point and known bands."""
        nb, width = len(self.bands), self.config.window
        out: list[Resampled | None] = [None] * len(cs)
        sizes = np.array([c.time.size for c in cs])
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        t = np.concatenate([c.time for c in cs])
        f = np.concatenate([c.flux for c in cs])
        e = np.concatenate([c.flux_err for c in cs if c.flux_err is not None])
        m = np.concatenate([c.mask for c in cs])
        obj = np.repeat(np.arange(len(cs)), sizes)
        t0 = np.minimum.reduceat(np.where(m, t, np.inf), first)
        t1 = np.maximum.reduceat(np.where(m, t, -np.inf), first)
        step = (t1 - t0) / (width - 1)
        grid = t0[:, None] + step[:, None] * np.arange(width)
        # the usable points row by row (row = object * nb + band), in time order
        use = np.flatnonzero(m)
        row = obj[use] * nb + np.concatenate(labels)[use]
        order = np.argsort(row, kind="stable")
        use, row = use[order], row[order]
        n_rows = len(cs) * nb
        count = np.bincount(row, minlength=n_rows)
        pos = np.arange(use.size) - np.concatenate([[0], np.cumsum(count)[:-1]])[row]
        width_pts = max(1, int(count.max()))
        tp = np.full((n_rows, width_pts), np.inf)
        fe = np.zeros((2, n_rows, width_pts))
        tp[row, pos], fe[0, row, pos], fe[1, row, pos] = t[use], f[use], e[use]
        bad = np.zeros(len(cs), bool)  # left to the per-curve path
        bad[obj[use][~(np.isfinite(f[use]) & np.isfinite(t[use]))]] = True
        bad[obj[use][1:][(np.diff(t[use]) < 0) & (row[1:] == row[:-1])]] = True
        bad |= ~(t1 > t0)
        owner = np.arange(n_rows) // nb
        g, st = grid[owner], step[owner][:, None]
        idx = np.empty((n_rows, width), np.int64)
        for r in range(n_rows):  # one search a row (its points are sorted)
            idx[r] = np.searchsorted(tp[r, : count[r]], g[r], side="right")
        values, valid = _resample_rows(tp, fe, count, idx, g, st, self.config.max_gap)
        offset, scale = _robust_rows(fe[0], count)
        values = values.reshape(2, len(cs), nb, width)
        valid = valid.reshape(len(cs), nb, width)
        err = np.where(valid, values[1], 1.0)
        offset, scale = offset.reshape(len(cs), nb), scale.reshape(len(cs), nb)
        safe = np.where(bad, 1.0, step)  # (a curve left out may have one time: step 0)
        point_grid = np.clip(np.rint((t - t0[obj]) / safe[obj]), 0, width - 1).astype(np.int64)
        for k in range(len(cs)):
            if bad[k]:
                continue
            pts = slice(first[k], first[k] + sizes[k])
            out[k] = Resampled(cs[k].object_id, grid[k], values[0, k], valid[k], err[k],
                               labels[k], point_grid[pts], offset[k], scale[k])
        return out

    # ---- normalisation -------------------------------------------------------------------
    @property
    def per_window(self) -> bool:
        """True when every window has its own offset and scale ("window" normalisation)."""
        return self.config.normalization == "window"

    def band_offsets(self, res: Resampled) -> tuple[np.ndarray, np.ndarray]:
        """(n_bands,) offset and scale shared by all windows of a curve (not "window" mode)."""
        if self.config.normalization in ("robust", "auto"):  # "auto" unresolved: per object
            return res.object_offset.astype(np.float64), res.object_scale.astype(np.float64)
        if self.config.normalization in ("global", "minmax"):
            return np.asarray(self.band_offset, np.float64), np.asarray(self.band_scale,
                                                                         np.float64)
        raise ValueError("window normalisation has no per-band offsets")

    def normalize_grid(self, res: Resampled, off: np.ndarray, sc: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The whole grid in model units, once: windows cut from it equal `normalize` of the
        raw windows when the offsets are per band."""
        return _normalized(res.values, res.err, res.mask, off[:, None], sc[:, None])

    def normalize_grids(self, res: Sequence[Resampled]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`band_offsets` and `normalize_grid` of many curves on grids of one size at once:
        (n, n_bands) offsets and scales, (n, n_bands, n_grid) model-unit values and errors."""
        offsets = [self.band_offsets(r) for r in res]
        off = np.stack([o for o, _s in offsets])
        sc = np.stack([s for _o, s in offsets])
        xg, eg = _normalized(np.stack([r.values for r in res]), np.stack([r.err for r in res]),
                             np.stack([r.mask for r in res]), off[:, :, None], sc[:, :, None])
        return off, sc, xg, eg

    def window_offsets(
        self, windows_x: np.ndarray, windows_mask: np.ndarray, res: Resampled
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n_windows, n_bands) offset and scale that map raw windows to model units."""
        n_w = windows_x.shape[0]
        nb = len(self.bands)
        if not self.per_window:
            off, sc = self.band_offsets(res)
            return np.broadcast_to(off, (n_w, nb)).copy(), np.broadcast_to(sc, (n_w, nb)).copy()
        x = windows_x.reshape(n_w, nb, -1)
        m = windows_mask.reshape(n_w, nb, -1)
        cnt = m.sum(axis=2)
        safe = np.where(m, x, 0.0)
        mean = safe.sum(axis=2) / np.maximum(cnt, 1)
        var = (np.where(m, x - mean[..., None], 0.0) ** 2).sum(axis=2) / np.maximum(cnt, 1)
        std = np.sqrt(var)
        fallback = np.broadcast_to(res.object_scale, (n_w, nb))
        # a (numerically) flat window keeps the object's scale instead of dividing by ~0
        return mean, np.where(std > 1e-6 * fallback, std, fallback)

    def normalize(
        self, x: np.ndarray, err: np.ndarray, mask: np.ndarray, off: np.ndarray, sc: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw (n_windows, D) windows -> float32 model inputs and errors; masked cells 0 and 1."""
        w = x.shape[1] // len(self.bands)
        return _normalized(x, err, mask, np.repeat(off, w, axis=1), np.repeat(sc, w, axis=1))

    def denormalize(self, xn: np.ndarray, off: np.ndarray, sc: np.ndarray) -> np.ndarray:
        w = xn.shape[1] // len(self.bands)
        return xn.astype(np.float64) * np.repeat(sc, w, axis=1) + np.repeat(off, w, axis=1)

    # ---- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(mode="json"),
            "cadence": self.cadence,
            "bands": self.bands,
            "band_offset": self.band_offset,
            "band_scale": self.band_scale,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(
            PreprocessConfig.model_validate(data["config"]),
            float(data["cadence"]),
            list(data["bands"]),
            [float(v) for v in data["band_offset"]],
            [float(v) for v in data["band_scale"]],
        )


def _normalized(x: np.ndarray, err: np.ndarray, mask: np.ndarray, off: np.ndarray,
                sc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x - off) / sc and err / sc as finite float32 (off and sc broadcast); masked: 0 and 1."""
    with np.errstate(over="ignore", invalid="ignore"):
        xn = np.where(mask, (x - off) / sc, 0.0)
        en = np.where(mask, err / sc, 1.0)
    xn = np.clip(np.nan_to_num(xn, nan=0.0), -1e6, 1e6)  # finite in float32 too
    en = np.where(np.isfinite(en) & (en > 0), en, 1.0)
    return xn.astype(np.float32), np.maximum(en, 1e-6).astype(np.float32)


def _resample_rows(tp: np.ndarray, fe: np.ndarray, count: np.ndarray, idx: np.ndarray,
                   grid: np.ndarray, step: np.ndarray, max_gap: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """`resample_band` of many rows at once: (rows, P) times (padded with inf after each
    row's `count`), (k, rows, P) series at those times, (rows, G) grids with `idx` their
    searchsorted(side="right") positions, (rows, 1) steps; `_grid_values` decides, as for
    one band."""
    n = count[:, None]
    left = np.clip(idx - 1, 0, np.maximum(n - 1, 0))
    right = np.clip(idx, 0, np.maximum(n - 1, 0))
    has_left = idx > 0
    has_right = idx < n
    return _grid_values(grid, np.take_along_axis(tp, left, axis=1),
                        np.take_along_axis(tp, right, axis=1),
                        np.take_along_axis(fe, left[None], axis=2),
                        np.take_along_axis(fe, right[None], axis=2), has_left, has_right,
                        step, max_gap)


def _robust_rows(v: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`robust_location_scale` of each row's first `count` (finite) values: medians by one
    sort of the padded rows; a row without values, or whose MAD may be degenerate, by the
    per-row function."""
    rows = np.arange(v.shape[0])
    ok = np.arange(v.shape[1]) < count[:, None]
    k = count // 2
    odd = (count % 2 == 1)

    def medians(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.sort(np.where(ok, a, np.inf), axis=1)
        hi = s[rows, np.minimum(k, v.shape[1] - 1)]
        lo = s[rows, np.maximum(k - 1, 0)]
        return np.where(odd, hi, (lo + hi) / 2), s

    med, s = medians(v)
    scale = MAD_TO_SIGMA * medians(np.abs(v - med[:, None]))[0]
    with np.errstate(invalid="ignore"):  # rows without values: inf - inf, left to the loop
        ptp = s[rows, np.maximum(count - 1, 0)] - s[:, 0]
        fine = (count > 0) & np.isfinite(scale) & (scale > 1e-6 * ptp)
    for r in np.flatnonzero(~fine):
        med[r], scale[r] = robust_location_scale(v[r, : count[r]])
    return med, scale

