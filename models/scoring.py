"""Reconstruction errors -> window, point and object scores; calibration; anomalous intervals."""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

from lcad.models.segments import LEVEL_MOVE, segment_statistic

N_QUANTILES = 2001


def residuals(
    x: np.ndarray, recon: np.ndarray, mask: np.ndarray, err: np.ndarray, kind: str
) -> np.ndarray:
    """Per-cell residual x - recon (mse), or over the error (chi2); 0 where masked. float32."""
    r = np.subtract(x, recon, dtype=np.float32)
    np.multiply(r, mask, out=r)
    if kind == "chi2":
        np.divide(r, err, out=r)
    return r


def window_errors(resid: np.ndarray, band_counts: np.ndarray, valid: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Masked mean squared residual of each window (NaN for windows not `valid`) and of each
    band of each window (NaN where a band has no data): (n_windows,), (n_windows, n_bands)."""
    n_w, n_bands = band_counts.shape
    r = resid.reshape(n_w, n_bands, -1)
    sq = np.einsum("ijk,ijk->ij", r, r).astype(np.float64)
    count = band_counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = sq.sum(axis=1) / np.maximum(count, 1)
        per_band = np.where(band_counts > 0, sq / np.maximum(band_counts, 1), np.nan)
    return np.where(valid & (count > 0), err, np.nan), per_band


def object_score(errors: np.ndarray, how: str = "max", top_k: int = 5) -> float:
    """Max window error, or the mean of the top-k; NaN when no window is usable."""
    e = errors[np.isfinite(errors)]
    if e.size == 0:
        return float("nan")
    if how == "topk":
        k = min(top_k, e.size)
        return float(np.mean(np.partition(e, e.size - k)[e.size - k:]))
    return float(e.max())


def robust_z(residual: np.ndarray) -> np.ndarray:
    """Each band's residuals over its robust scatter (1.4826 MAD; std if that is 0). NaN kept."""
    z = np.full(residual.shape, np.nan)
    for b in range(residual.shape[0]):
        ok = np.isfinite(residual[b])
        v = residual[b, ok]
        if v.size == 0:
            continue
        scale = 1.4826 * float(np.median(np.abs(v - np.median(v))))
        if not scale > 1e-12:
            scale = float(np.std(v))
        z[b, ok] = v / scale if scale > 1e-12 else 0.0
    return z


SCAN_CLIP = 4.0
# the quiet row speaks only past this -log10 p (white noise gives such a run once in 10^4;
# for 24 points, a variance about its mean under a quarter of the noise's): below it the
# row is 0. Ungated, its calibrated tail doubled the false alarms the other rows give at
# p < 1e-3 and cost every Kepler family 0.035-0.047 PR-AUC (docs/quality-log.md, session 38)
QUIET_GATE = 4.0


def scan_statistics(residual: np.ndarray, scales: Sequence[int], clip: float = SCAN_CLIP,
                    cover: bool = False, flanks: bool = False, segments: bool = False,
                    oscillations: int = 0, segment_moves: float = LEVEL_MOVE,
                    quiet: int = 0, segment_length: float | None = None,
                    baseline: int = 0, scale: np.ndarray | None = None) -> np.ndarray:
    """(n_bands, n_grid) residuals (NaN: no data) -> (len(scales) + flanks + segments
    + (oscillations > 0) + (quiet > 0), n_grid) -log10 p.

    Residuals become z-scores against each band's robust scatter. Around every point, the run
    of k grid points centred on it (k in `scales`) is tested twice: for an offset (sum of z
    over sqrt(N), two-sided normal: dips, flares, steps) and for excess scatter (sum of z^2,
    chi-square with N degrees of freedom by the Wilson-Hilferty approximation: oscillations,
    bursts of noise); the more significant of the two is kept. In runs longer than one point
    z is clipped to +-clip, so that one outlier (which scale 1 scores on its own) does not
    light up its neighbours. Under white noise these p-values are exact per run. A scale
    longer than the series, or a point without data, gives NaN. A run's statistic is its
    centre's; with `cover` every point of the run gets it (the largest over the runs
    containing the point): whole events are flagged, and a few points beside them.

    With `flanks` a last row tests each point's two flanks: the runs of the largest scale k
    that end at the point and that start at it, tested as above; the less significant of the
    two counts. Under noise both are rarely surprising at once (about p^2 where a run is p),
    so a point inside an event longer than 2k, with both flanks in it, carries the evidence
    of 2k points; a point beside an event, or beside a star's own outlier, has at most one
    flank in it, where a centred run of 2k points would light it up.

    With `segments` a last row is -log10 of the posterior probability that the point is not
    in an anomalous segment (models/segments.py: offsets from the band's median and excess
    scatter, of any length, `segment_length` their mean length (default the largest scale
    k); a segment moves to the next level up or down at `segment_moves` times the rate it
    ends): a whole event's evidence, out to where the residual returns to the noise.

    With `oscillations` (a run length L > 0) a row after those tests the run of L points
    centred on each point for a sinusoid of unknown phase (`_oscillation_surprise`): the
    matched filter of an oscillation, where the scatter test spreads the same power over
    every frequency.

    With `quiet` (a run length L > 0) a last row tests the run of L points centred on each
    point for too little scatter about its own mean (`_quiet_surprise`), 0 below
    `QUIET_GATE`: a stretch where the noise stops (a value held, a stuck or saturated
    sensor, data filled in by smoothing) sits near the reconstruction and no test of excess
    is surprised by it.

    With `baseline` (a run length B > 0) the rows of runs (`scales`, the flanks, the
    oscillations) test the residuals less their running median over the B points centred on
    each point (`running_median`), scaled anew: what the network left of a slow signal (a
    rotation longer than its window) no longer shifts every short run, and an event shorter
    than about B / 2 keeps its offset. The segment and quiet rows, which weigh changes of
    any length, keep the residuals as they are.

    With `scale` ((n_bands, n_grid), the residuals' expected scatter at each cell relative
    to the flattest: `ScatterCurve`) every row but the quiet one tests the residuals over
    it; the quiet row weighs the residuals as they are (a residual made smaller where the
    reconstruction is steep would pass for noise that stopped).
    """
    raw_z = robust_z(residual)
    scaled = residual if scale is None else residual / scale
    z = raw_z if scale is None else robust_z(scaled)
    ok = np.isfinite(z)
    n_grid = z.shape[1]
    one_band = z.shape[0] == 1
    cnt = ok[0].astype(np.float64) if one_band else ok.sum(axis=0).astype(np.float64)
    has_data = cnt > 0
    local = robust_z(scaled - running_median(scaled, baseline)) if baseline > 1 else z
    # NaN -> 0: sums over bands and runs skip missing cells; the runs' z, and the residuals'
    # as they are (the quiet row's; the same array without a baseline or a scale)
    apart = baseline > 1 or scale is not None
    zero = {False: np.where(ok, local, 0.0)}
    zero[True] = np.where(ok, raw_z, 0.0) if apart else zero[False]
    n_rows = len(scales) + int(flanks) + int(segments) + int(oscillations > 0) + int(quiet > 0)
    out = np.full((n_rows, n_grid), np.nan)

    cache: dict[tuple[bool, bool], tuple[np.ndarray, np.ndarray]] = {}

    def sums(k: int, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(sum of z, sum of z^2) over bands; z clipped in runs longer than one point (the
        same for every such scale: computed once); `raw`: of the residuals as they are."""
        key = (k > 1, raw and apart)
        if key not in cache:
            zk = np.clip(zero[raw], -clip, clip) if key[0] else zero[raw]
            cache[key] = ((zk[0], np.square(zk[0])) if one_band
                          else (zk.sum(axis=0), np.square(zk).sum(axis=0)))
        return cache[key]

    for i, k in enumerate(int(k) for k in scales):
        if k > n_grid:
            continue
        zs, z2 = sums(k)
        s, e, n = (_run_sums(v, k) for v in (zs, z2, cnt))
        run = _run_surprise(s, e, n)
        if k > 1 and cover:
            run = _covering_max(np.where(n > 0.5, run, -np.inf), k)
        out[i] = np.where((n > 0.5) & has_data, run, np.nan)
    k = int(max(scales))
    if flanks and 1 < k <= n_grid:
        zs, z2 = sums(k)
        ending, starting = (np.stack(pair) for pair in zip(
            *(_flank_sums(v, k) for v in (zs, z2, cnt)), strict=True))
        both = _run_surprise(*ending), _run_surprise(*starting)
        out[len(scales)] = np.where(has_data, np.minimum(*both), np.nan)
    if segments:
        out[len(scales) + int(flanks)] = segment_statistic(
            z, clip, float(segment_length or k), segment_moves)
    if 1 < oscillations <= n_grid:
        zs, _z2 = sums(oscillations)
        osc = _oscillation_surprise(zs, _run_sums(cnt, oscillations), oscillations)
        out[len(scales) + int(flanks) + int(segments)] = np.where(has_data, osc, np.nan)
    if 1 < quiet <= n_grid:
        zs, z2 = sums(quiet, raw=True)  # the quiet row weighs the residuals as they are
        n = _run_sums(cnt, quiet)
        calm = _quiet_surprise(_run_sums(zs, quiet), _run_sums(z2, quiet), n)
        calm[calm < QUIET_GATE] = 0.0  # the noise has not stopped: no evidence
        out[-1] = np.where(has_data & (n >= quiet / 2), calm, np.nan)
    return out


def running_median(residual: np.ndarray, length: int) -> np.ndarray:
    """(n_bands, n_grid) -> each band's median over the `length` grid points centred on each
    point, of those with data (a quarter of them at least, else 0); NaN where the residual
    is NaN."""
    import pandas as pd

    out = np.zeros(residual.shape)
    for b in range(residual.shape[0]):
        med = pd.Series(residual[b]).rolling(length, center=True,
                                             min_periods=max(1, length // 4)).median()
        out[b] = np.nan_to_num(med.to_numpy(), nan=0.0)
    return np.where(np.isfinite(residual), out, np.nan)


def run_variance_ratio(residuals: Sequence[np.ndarray], length: int,
                       clip: float = SCAN_CLIP) -> float | None:
    """How red residuals are at a run length: the mean square of the mean of `length`
    consecutive robust z-scores (about the band's median, clipped at +-clip, as the scan's
    runs see them), times `length`, over the mean square of one, pooled over the (n_bands,
    n_grid) arrays and their bands (runs with a gap skipped). About 1 for white noise at
    any length; what a network left of a slow signal raises it (an offset of the mean from
    the median raises it too, by `length` times its square). None below 8 x `length` runs
    (8 runs' worth of points)."""
    sums, total, n_runs = 0.0, 0.0, 0
    squares = 0.0
    for residual in residuals:
        z = np.clip(robust_z(residual), -clip, clip)
        for row in z:
            ok = np.isfinite(row)
            if ok.sum() < length:
                continue
            cnt = _run_sums(ok.astype(np.float64), length)
            run = _run_sums(np.where(ok, row, 0.0), length)
            full = cnt > length - 0.5
            sums += float(np.sum(np.square(run[full]))) / length
            n_runs += int(full.sum())
            squares += float(np.sum(np.square(row[ok])))
            total += float(ok.sum())
    if n_runs < 8 * length or not squares > 0.0:
        return None
    return (sums / n_runs) / (squares / total)


def increasing_fit(y: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence nearest `y` in least squares (pool adjacent violators)."""
    vals: list[float] = []
    sizes: list[int] = []
    for v in np.asarray(y, dtype=np.float64):
        vals.append(float(v))
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v2, n2 = vals.pop(), sizes.pop()
            vals[-1] = (vals[-1] * sizes[-1] + v2 * n2) / (sizes[-1] + n2)
            sizes[-1] += n2
    return np.repeat(vals, sizes)


SCATTER_BIN_POINTS = 100  # held-out points a bin of `ScatterCurve` needs, at the least


@dataclass
class ScatterCurve:
    """How the residuals' scatter grows with one property of the reconstruction at each
    point (`reconstruction_shape`: its slope, its depth below or above its level), fitted
    on held-out residuals: quantile bins of the property, the robust scale of the residuals
    in each, made non-decreasing and relative to the lowest bin (never below 1). `at`: the
    bins' median values of the property; `scales`: the relative scale there."""

    at: list[float]
    scales: list[float]

    @classmethod
    def fit(cls, residuals: Sequence[np.ndarray], values: Sequence[np.ndarray],
            bins: int) -> ScatterCurve | None:
        """None when the held-out part has too few points for `bins` bins of
        `SCATTER_BIN_POINTS` (fewer bins are taken down to 2) or the property does not
        vary."""
        r = np.concatenate([np.ravel(a) for a in residuals])
        x = np.concatenate([np.ravel(a) for a in values])
        ok = np.isfinite(r) & np.isfinite(x)
        r, x = r[ok], x[ok]
        bins = min(bins, r.size // SCATTER_BIN_POINTS)
        if bins < 2:
            return None
        r = np.abs(r - np.median(r))
        parts = np.array_split(np.argsort(x, kind="stable"), bins)
        mids = np.array([np.median(x[i]) for i in parts])
        scatter = np.array([np.median(r[i]) for i in parts])
        if not scatter[0] > 0 or not mids[-1] > mids[0]:
            return None
        fitted = increasing_fit(scatter)
        rel = np.maximum(fitted / fitted[0], 1.0)
        return cls([float(v) for v in mids], [float(v) for v in rel])

    @property
    def gain(self) -> float:
        """The residuals' scatter at the top bin over the lowest's."""
        return self.scales[-1]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """The relative scale at each value (NaN: 1)."""
        return np.asarray(np.interp(np.nan_to_num(values, nan=self.at[0]), self.at,
                                    self.scales))


def reconstruction_shape(recon: np.ndarray, errors: np.ndarray | None,
                         keys: Sequence[str] = ("slope", "depth")) -> dict[str, np.ndarray]:
    """Properties (`keys`) of an (n_bands, n_grid) reconstruction at each grid point, over
    the errors when given (chi2 residuals), NaN where the reconstruction is: "slope", its
    step per grid point (central differences; a reconstruction a little early or late errs
    in proportion to it), and "depth", its distance from its band's median level (one a
    little too shallow or deep errs in proportion to it: an eclipse's bottom, a pulsation's
    peak). Only the properties asked for are computed (scoring asks for every point)."""
    out: dict[str, np.ndarray] = {}
    for key in keys:
        if recon.shape[-1] < 2:
            out[key] = np.full(recon.shape, np.nan)
            continue
        if key == "slope":
            value = np.abs(np.gradient(recon, axis=-1))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a band without one
                value = np.abs(recon - np.nanmedian(recon, axis=-1, keepdims=True))
        out[key] = value / errors if errors is not None else value
    return out


def _quiet_surprise(s: np.ndarray, e: np.ndarray, n: np.ndarray) -> np.ndarray:
    """-log10 p of too little scatter: runs with sums of z `s` and of z^2 `e` over `n` cells,
    their sum of squares about the run's own mean (an offset does not count) against the
    lower tail of chi-square with n - 1 degrees of freedom (Wilson-Hilferty, as the excess
    test of `_run_surprise`). Under white noise a run of 24 points has a third of the
    noise's variance about its mean once in 10^3 runs, a quarter once in 10^4."""
    from scipy.special import log_ndtr

    m = np.maximum(n - 1.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        about_mean = np.maximum(e - np.square(s) / np.maximum(n, 1.0), 0.0)
        v = 2.0 / (9.0 * m)
        wh = (np.cbrt(about_mean / m) - (1.0 - v)) / np.sqrt(v)
        out = -log_ndtr(wh) / np.log(10.0)
    return np.where(n >= 2, np.minimum(out, 300.0), np.nan)


def _oscillation_surprise(zs: np.ndarray, n: np.ndarray, run: int) -> np.ndarray:
    """-log10 p of the largest periodogram ordinate of the `run` points centred on each point.

    At each frequency f = j / (2 run), j = 2 .. run - 1 (periods from the run's length down
    to just above 2 points, twice as finely spaced as the run resolves, so a period between
    two ordinates loses little power; not period 2, whose ordinate has one degree of freedom
    and a heavier tail), the run's sum of z exp(-2 pi i f t) over its n cells with data
    gives |sum|^2 / n, about exponential with mean 1 under white noise: the likelihood-ratio
    test of a sinusoid of unknown phase and amplitude. The largest over the F frequencies has
    p = 1 - (1 - exp(-x))^F if they were independent and exactly exponential (neither quite
    holds; the calibration tables make the p-value empirical)."""
    t = np.arange(zs.size, dtype=np.float64)
    freqs = np.arange(2, run) / (2.0 * run)
    best = np.zeros(zs.size)
    for f in freqs:
        s = _run_sums(zs * np.exp(-2j * np.pi * f * t), run)
        np.maximum(best, np.square(s.real) + np.square(s.imag), out=best)
    best /= np.maximum(n, 1.0)
    with np.errstate(divide="ignore"):
        log_p = np.log(-np.expm1(freqs.size * np.log1p(-np.exp(-best))))
    return np.minimum(-log_p / np.log(10.0), 300.0)


def _run_surprise(s: np.ndarray, e: np.ndarray, n: np.ndarray) -> np.ndarray:
    """-log10 p of runs with sums of z `s`, of z^2 `e`, over `n` cells: the offset test, and
    the scatter test where a run has at least two cells; the more significant. Modifies
    `s`."""
    from scipy.special import log_ndtr

    nn = np.maximum(n, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.abs(s, out=s)
        s /= -np.sqrt(nn)
        run = log_ndtr(s)
        run += np.log(2.0)
        several = np.flatnonzero(n >= 2)  # one cell: the offset test says it all
        if several.size:
            m, v = nn[several], 2.0 / (9.0 * nn[several])
            wh = (np.cbrt(np.maximum(e[several], 0.0) / m) - (1.0 - v)) / np.sqrt(v)
            run[several] = np.minimum(run[several], log_ndtr(-wh))
    np.minimum(run, 0.0, out=run)
    run *= -1.0 / np.log(10.0)
    return run


def _flank_sums(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the k values ending at each point and of the k starting at it (fewer at the
    ends of the series)."""
    c = np.empty(values.size + 1)
    c[0] = 0.0
    np.cumsum(values, out=c[1:])
    i = np.arange(values.size)
    return c[i + 1] - c[np.maximum(i + 1 - k, 0)], c[np.minimum(i + k, values.size)] - c[i]


def _covering_max(run: np.ndarray, k: int) -> np.ndarray:
    """Each point's largest statistic over the k-point runs that contain it (the run centred
    on j covers j - (k-1)//2 .. j + k//2), so a whole significant run is flagged, not only
    its centre."""
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(run, size=k, mode="nearest")


def _run_sums(values: np.ndarray, k: int) -> np.ndarray:
    """Sum of the k values of the run centred on each point (runs at the ends are shifted
    inside): cumulative sums differenced, edges repeated."""
    c = np.empty(values.size + 1, dtype=values.dtype)
    c[0] = 0.0
    np.cumsum(values, out=c[1:])
    by_start = c[k:] - c[:-k]
    h = (k - 1) // 2
    if k == 1:
        return by_start
    return np.concatenate([np.full(h, by_start[0]), by_start,
                           np.full(k - 1 - h, by_start[-1])])


def scan_scores(residual: np.ndarray, scales: Sequence[int], clip: float = SCAN_CLIP,
                tables: Sequence[EmpiricalDistribution] | None = None, cover: bool = False,
                flanks: bool = False, segments: bool = False, oscillations: int = 0,
                segment_moves: float = LEVEL_MOVE, quiet: int = 0,
                segment_length: float | None = None, baseline: int = 0,
                scale: np.ndarray | None = None) -> np.ndarray:
    """(n_grid,) point scores: the most surprising scale at each point, in -log10 p.

    Without `tables` the p-values are the analytic white-noise ones of `scan_statistics`.
    With one table per row of `scan_statistics` (fitted on held-out calibration data) each
    scale's statistic (and the flanks') is first turned into its empirical p-value, so that a
    scale at which the data are naturally rough (outliers, red noise) weighs no more than it
    should.
    """
    stats = scan_statistics(residual, scales, clip, cover, flanks, segments, oscillations,
                            segment_moves, quiet, segment_length, baseline, scale)
    if tables is not None:
        stats = np.stack([t.surprise(row) for t, row in zip(tables, stats, strict=True)])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no data there
        return np.nanmax(stats, axis=0) if stats.size else np.full(residual.shape[1], np.nan)


TAIL_FRACTION = 0.05
# the exponential tail of a statistic in -log10 units falls at most a decade a unit
# (`scoring.scan_tail_bound`): P(p <= a) = a for a p-value, P(LR >= c) <= 1/c for a
# likelihood ratio (Markov's inequality), so no calibration sample may make it steeper
LOG10_TAIL_SCALE = 1.0 / math.log(10.0)
LOOKUP_BINS_PER_QUANTILE = 16
TIE_RELATIVE = 1e-9  # scores this close (relative to their magnitude) tie (`tie`)


@dataclass
class EmpiricalDistribution:
    """Scores seen on the calibration split, kept as quantiles (bounded size).

    Beyond the top TAIL_FRACTION of the calibration scores, p-values follow an exponential
    tail fitted to the exceedances, so that scores far above anything seen in calibration
    get p-values below 1/n instead of all sharing the floor.
    """

    quantiles: list[float]
    n: int
    tail_start: float
    tail_scale: float

    @classmethod
    def fit(cls, scores: np.ndarray, min_tail_scale: float = 0.0) -> EmpiricalDistribution:
        """`min_tail_scale`: the exponential tail's scale is at least this (its p-values fall
        no faster: `LOG10_TAIL_SCALE` for scores in -log10 units)."""
        s = np.asarray(scores, dtype=np.float64)
        s = s[np.isfinite(s)]
        if s.size == 0:
            raise ValueError("no finite calibration scores")
        if s.size <= N_QUANTILES:
            q = np.sort(s)
        else:
            q = np.quantile(s, np.linspace(0.0, 1.0, N_QUANTILES))
        start = float(np.quantile(s, 1.0 - TAIL_FRACTION))
        excess = s[s > start] - start
        scale = float(excess.mean()) if excess.size else 0.0
        if not scale > 0:
            scale = max(float(np.std(s)), abs(start) * 1e-6, 1e-12)
        scale = max(scale, min_tail_scale)
        return cls([float(v) for v in q], int(s.size), start, scale)

    def quantile(self, level: float) -> float:
        q = np.asarray(self.quantiles)
        return float(np.interp(level, np.linspace(0.0, 1.0, q.size), q))

    def surprise(self, scores: np.ndarray) -> np.ndarray:
        """-log10 of p_values, computed in log space so that far tails stay finite."""
        s = np.asarray(scores, dtype=np.float64)
        body = -np.log10(np.maximum(self.p_values(s), 1e-300))
        tail = -np.log10(TAIL_FRACTION) + (s - self.tail_start) / (self.tail_scale * np.log(10))
        out = np.where(s > self.tail_start, np.maximum(body, tail), body)
        return np.where(np.isfinite(s), out, np.nan)

    @cached_property
    def _bins(self) -> tuple[np.ndarray, float, float, np.ndarray, np.ndarray]:
        """A uniform-bin index over the quantiles: bin k = floor((s - q[0]) * scale) + 1,
        clipped to [0, n_bins + 1] (monotone in s); how many quantiles lie in lower bins, and
        which bins hold a quantile (only there must a score be searched for)."""
        q = np.asarray(self.quantiles, dtype=np.float64)
        lo, hi = float(q[0]), float(q[-1])
        n_bins = LOOKUP_BINS_PER_QUANTILE * q.size
        scale = n_bins / (hi - lo) * (1.0 - 1e-9) if hi > lo else 0.0
        fq = self._bin_of(q, lo, scale, n_bins)
        below = np.searchsorted(fq, np.arange(n_bins + 2), side="left")
        held = np.zeros(n_bins + 2, bool)
        held[fq] = True
        return q, lo, scale, below, held

    @staticmethod
    def _bin_of(s: np.ndarray, lo: float, scale: float, n_bins: int) -> np.ndarray:
        x = np.subtract(s, lo)
        x *= scale
        np.floor(x, out=x)
        x += 1.0
        np.clip(x, 0.0, n_bins + 1.0, out=x)
        return x.astype(np.intp)

    def count_below(self, s: np.ndarray) -> np.ndarray:
        """Number of quantiles strictly below each finite score: `searchsorted(q, s)`, by
        bin where a bin holds no quantile (most scores), by search only where one does."""
        q, lo, scale, below, held = self._bins
        if scale == 0.0:
            return np.searchsorted(q, s, side="left")
        k = self._bin_of(s, lo, scale, below.size - 2)
        out = below[k]
        search = np.flatnonzero(held[k])
        out[search] = np.searchsorted(q, s[search], side="left")
        return out

    @cached_property
    def tie(self) -> float:
        """How close a score must come to a calibration score to tie with it (count as
        reached): floating-point rounding, 1e-9 of the scores' magnitude. A calibration
        object scored again in another batch (another BLAS blocking, another process) comes
        back 1e-15 off its stored score, and its p-value must not move a rank for that."""
        q = self.quantiles
        return TIE_RELATIVE * max(abs(q[0]), abs(q[-1]), q[-1] - q[0], 1e-300)

    def p_value(self, score: float) -> float:
        """`p_values` of one score, in plain Python (a curve's object score, its best window:
        a dozen numpy calls cost 50 us for one value, this 2)."""
        if not math.isfinite(score):
            return math.nan
        q = self.quantiles
        p = (1.0 + (1.0 - bisect.bisect_left(q, score - self.tie) / len(q)) * self.n) / (
            self.n + 1.0)
        if score > self.tail_start:  # the exponent is negative: no overflow
            p = min(p, TAIL_FRACTION * math.exp(-(score - self.tail_start) / self.tail_scale))
        return min(max(p, 0.0), 1.0)

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """P(calibration score >= s, a tie within `tie`): empirical (+1 corrected) in the
        body, exponential tail."""
        s = np.asarray(scores, dtype=np.float64)
        if s.size == 1:
            return np.full(s.shape, self.p_value(float(s.flat[0])))
        p = self._body_p(s)
        with np.errstate(over="ignore", invalid="ignore"):
            tail = TAIL_FRACTION * np.exp(-(s - self.tail_start) / self.tail_scale)
        p = np.where(s > self.tail_start, np.minimum(p, tail), p)
        return np.where(np.isfinite(s), np.clip(p, 0.0, 1.0), np.nan)

    def _body_p(self, s: np.ndarray) -> np.ndarray:
        """The empirical (+1 corrected) p-values, without the tail (never 0)."""
        q = self._bins[0]  # the quantiles as an array, once (not the list at every call)
        frac_below = self.count_below(np.where(np.isfinite(s), s - self.tie, q[0])) / q.size
        return (1.0 + (1.0 - frac_below) * self.n) / (self.n + 1.0)  # below, not tied

    def log10_p_values(self, scores: np.ndarray) -> np.ndarray:
        """log10 of `p_values`, the tail's computed as a logarithm: scores far beyond the
        calibration keep their order where the p-values themselves underflow to 0 (a
        tail scale of 0.01 reaches 0 seven units past its start)."""
        s = np.asarray(scores, dtype=np.float64)
        body = np.log10(np.clip(self._body_p(s), 0.0, 1.0))
        with np.errstate(invalid="ignore"):
            tail = (math.log10(TAIL_FRACTION)
                    - (s - self.tail_start) / (self.tail_scale * math.log(10.0)))
        out = np.where(s > self.tail_start, np.minimum(body, tail), body)
        return np.where(np.isfinite(s), out, np.nan)


@dataclass
class Calibration:
    """Thresholds at the target false-alarm rate and the distributions behind the p-values."""

    target_far: float
    window: EmpiricalDistribution
    point: EmpiricalDistribution
    object: EmpiricalDistribution | None  # None: too few calibration objects
    point_threshold: float
    window_threshold: float
    object_threshold: float | None
    n_objects: int
    point_method: str = "scan"  # what the point score is (models/point_scores.py)
    residual_lag1: float | None = None  # lag-1 autocorrelation of held-out residuals
    repeat_fraction: float | None = None  # consecutive training fluxes exactly repeated

    @classmethod
    def fit(
        cls,
        window_errs: np.ndarray,
        point_scores: np.ndarray,
        object_scores: np.ndarray,
        target_far: float,
        min_objects: int,
        point_method: str = "scan",
        residual_lag1: float | None = None,
        repeat_fraction: float | None = None,
    ) -> Calibration:
        win = EmpiricalDistribution.fit(window_errs)
        pts = EmpiricalDistribution.fit(point_scores)
        objs = np.asarray(object_scores, dtype=np.float64)
        objs = objs[np.isfinite(objs)]
        obj = EmpiricalDistribution.fit(objs) if objs.size >= min_objects else None
        return cls(
            target_far,
            win,
            pts,
            obj,
            pts.quantile(1.0 - target_far),
            win.quantile(1.0 - target_far),
            None if obj is None else obj.quantile(1.0 - target_far),
            int(objs.size),
            point_method,
            residual_lag1,
            repeat_fraction,
        )

    def object_p_value(self, score: float, window_p: np.ndarray, n_independent: float) -> float:
        """Against calibration objects when there were enough of them; otherwise the Sidak
        correction of the best window p-value for the curve's number of independent windows.
        """
        if not np.isfinite(score):
            return float("nan")
        if self.object is not None:
            return float(self.object.p_values(np.array([score]))[0])
        wp = window_p[np.isfinite(window_p)]
        if wp.size == 0:
            return float("nan")
        n_eff = max(1.0, float(n_independent))
        return float(-np.expm1(n_eff * np.log1p(-min(float(wp.min()), 1.0 - 1e-16))))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        obj = data.get("object")
        return cls(
            float(data["target_far"]),
            EmpiricalDistribution(**data["window"]),
            EmpiricalDistribution(**data["point"]),
            None if obj is None else EmpiricalDistribution(**obj),
            float(data["point_threshold"]),
            float(data["window_threshold"]),
            None if data.get("object_threshold") is None else float(data["object_threshold"]),
            int(data["n_objects"]),
            str(data.get("point_method", "scan")),
            None if data.get("residual_lag1") is None else float(data["residual_lag1"]),
            None if data.get("repeat_fraction") is None else float(data["repeat_fraction"]),
        )


@dataclass
class Interval:
    """A run of flagged points merged into one event."""

    start: float
    end: float
    peak_time: float
    peak_score: float
    p_value: float
    sign: str  # "dimming" or "brightening"
    n_points: int


def find_intervals(
    time: np.ndarray,
    scores: np.ndarray,
    p_values: np.ndarray,
    residual: np.ndarray,
    threshold: float,
    merge_gap: int = 0,
    extend_z: float = 0.0,
    core: np.ndarray | None = None,
) -> list[Interval]:
    """Merge points with score > threshold into events (runs closer than merge_gap join).

    With `core` (a mask over the points, `PointScorer.grid_core`) each event first narrows
    to the span of its core points, where it has any: novelty spread by the mean flags a
    window either side of a short event, its core is the event.

    With `extend_z` > 0 each event then reaches out, on either side, while the residual keeps
    the event's sign and stays beyond `extend_z` robust sigmas: to where the residual is back
    in the noise, so the interval covers the event an astronomer would mark, not only the
    points the score flagged (its core). Events that meet merge. `n_points` counts the
    flagged points.

    `residual` is observed minus reconstructed flux at each point: the largest one in the
    event, by absolute value, gives the sign (negative: dimming, positive: brightening).
    """
    flagged = np.flatnonzero(np.isfinite(scores) & (scores > threshold))
    if flagged.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(flagged) > merge_gap + 1)
    lo = flagged[np.concatenate([[0], breaks + 1])]
    hi = flagged[np.concatenate([breaks, [flagged.size - 1]])]
    n_flagged = np.diff(np.concatenate([[0], breaks + 1, [flagged.size]]))
    if core is not None:
        lo, hi = _narrow(lo, hi, np.asarray(core, bool))
    if extend_z > 0:
        lo, hi, n_flagged = _extend(lo, hi, n_flagged, residual, extend_z)
    if core is not None:  # the flagged points an event spans (the points that keep a flag)
        n_flagged = np.searchsorted(flagged, hi, side="right") - np.searchsorted(flagged, lo)
    # every event's span lo..hi, laid end to end, with the event it belongs to
    length = hi - lo + 1
    first = np.cumsum(length) - length
    event = np.repeat(np.arange(lo.size), length)
    span = np.arange(int(length.sum())) - np.repeat(first, length) + np.repeat(lo, length)
    peak = span[_first_max(np.where(np.isfinite(scores[span]), scores[span], -np.inf),
                           event, first)]
    extreme_at = span[_first_max(np.abs(np.nan_to_num(residual[span])), event, first)]
    extreme = np.nan_to_num(residual[extreme_at])
    return [
        Interval(start=float(time[a]), end=float(time[b]), peak_time=float(time[k]),
                 peak_score=float(scores[k]), p_value=float(p_values[k]),
                 sign="dimming" if e < 0 else "brightening", n_points=int(n))
        for a, b, k, e, n in zip(lo, hi, peak, extreme, n_flagged, strict=True)
    ]


def spans_mask(sorted_time: np.ndarray, starts: Sequence[float], ends: Sequence[float]
               ) -> np.ndarray:
    """True at the (sorted) times inside some [start, end]: one sweep over the ends
    (`lcad score`'s flags inside intervals, `lcad evaluate`'s interval points)."""
    n = sorted_time.size
    lo = np.searchsorted(sorted_time, starts)
    hi = np.searchsorted(sorted_time, ends, side="right")
    edges = np.bincount(lo, minlength=n + 1) - np.bincount(hi, minlength=n + 1)
    return np.cumsum(edges)[:n] > 0


def _narrow(lo: np.ndarray, hi: np.ndarray, core: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Each event [lo, hi] narrowed to its first and last `core` point, where it has one."""
    idx = np.flatnonzero(core)
    first = np.searchsorted(idx, lo)  # the first core point at or after lo
    last = np.searchsorted(idx, hi, side="right") - 1  # the last at or before hi
    has = first <= last  # a core point in [lo, hi]
    lo, hi = lo.copy(), hi.copy()
    lo[has], hi[has] = idx[first[has]], idx[last[has]]
    return lo, hi


def _extend(lo: np.ndarray, hi: np.ndarray, n_flagged: np.ndarray, residual: np.ndarray,
            extend_z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grow each event [lo, hi] while the residual keeps its sign beyond `extend_z` sigmas;
    merge events that then touch."""
    z = np.nan_to_num(robust_z(np.asarray(residual, np.float64)[None, :])[0])
    n = z.size
    lo, hi = lo.copy(), hi.copy()
    for i in range(lo.size):
        seg = z[lo[i]: hi[i] + 1]
        sign = 1.0 if seg[np.argmax(np.abs(seg))] >= 0 else -1.0
        beyond = sign * z > extend_z
        a, b = int(lo[i]), int(hi[i])
        while a > 0 and beyond[a - 1]:
            a -= 1
        while b < n - 1 and beyond[b + 1]:
            b += 1
        lo[i], hi[i] = a, b
    # events that now overlap or touch become one
    keep_lo, keep_hi, keep_n = [int(lo[0])], [int(hi[0])], [int(n_flagged[0])]
    for a, b, k in zip(lo[1:], hi[1:], n_flagged[1:], strict=True):
        if a <= keep_hi[-1] + 1:
            keep_hi[-1] = max(keep_hi[-1], int(b))
            keep_n[-1] += int(k)
        else:
            keep_lo.append(int(a))
            keep_hi.append(int(b))
            keep_n.append(int(k))
    return np.array(keep_lo), np.array(keep_hi), np.array(keep_n)


def _first_max(values: np.ndarray, group: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Index (into `values`) of the first largest value of each group; groups are the
    consecutive runs starting at `first` (`group` names each element's run)."""
    top = np.maximum.reduceat(values, first)
    at = np.flatnonzero(values == top[group])
    g = group[at]  # non-decreasing: keep the first hit of each group
    return at[np.concatenate([[True], g[1:] != g[:-1]])]
