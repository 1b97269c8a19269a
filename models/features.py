"""Per-object light-curve features: what survey astronomers rank objects by.

Per band (in wavelength order where the names say it: u g r i z y): the number of epochs, fractional
variability (robust std over the median level), robust amplitude (5-95 %), skew, excess kurtosis,
the von Neumann ratio eta (smoothness in time), the share of points beyond one std, the reduced chi2
around the median (variability against the errors), and the Lomb-Scargle best period and its power
(`lomb_scargle_power`); between neighbouring bands, the colour (magnitude difference of the median
fluxes). Per-object normalisation throws amplitude, colour and period away; these keep them. They
are the "light-curve features" of the features + Isolation Forest baseline (as CRTS, ZTF/SNAD and
Fink rank objects) and the input of whole-curve mode's object model (models/objects.py).

Scale-free where a median level exists (positive fluxes, e.g. from magnitudes); a band with
fewer than `MIN_EPOCHS` epochs gives NaN features (the caller imputes). Many objects are
computed together: every (object, band) is a padded row (`band_rows`) and each statistic one
array operation over all rows (`band_features`); the same values as numpy per band
(tests/models/test_features.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from threadpoolctl import ThreadpoolController

from lcad.models.lightcurve import LightCurve

BAND_FEATURES = ("log_epochs", "log_frac_std", "log_frac_amplitude", "skew", "kurtosis",
                 "log_eta", "beyond_1std", "log_chi2", "log_period", "period_power")
MIN_EPOCHS = 5
WAVELENGTH_ORDER = "ugrizy"
# Lomb-Scargle search: periods from `MIN_PERIOD` days to the span. A coarse regular grid
# (OVERSAMPLE frequencies a peak width 1 / span, at most N_FREQUENCIES), then its highest
# peaks (CANDIDATES[search]) searched again REFINE_STEPS times finer with the generalised
# Lomb-Scargle power (`best_periods`, docs/quality-log.md sessions 19-20: on SDSS RR Lyrae what
# an exhaustive search at 5 a peak width finds, at the cost of the old 20,000-frequency grid)
MIN_PERIOD = 0.1
N_FREQUENCIES = 20_000
OVERSAMPLE = 1
REFINE_STEPS = 8
REFINE_ROWS = 128
# the generalised power's fit is degenerate where the determinant of the phases' weighted
# covariance (1/4 for phases spread evenly) is below this: 10x the single-precision sums'
# rounding (`_gls`)
DEGENERATE = 1e-6
# the searches:
# - "peaks" (default since session 20): the bands' shared period; the coarse pass is the
#   classical periodogram |sum w y e^{ix}|^2 (one sum of the generalised power's three, none
#   of its normalisation; both sides of each centre from one real GEMM, `_classical_power`),
#   its 48 highest peaks zoomed in with the generalised power;
# - "zoom" (session 19): the same with the generalised power on the coarse grid, 32 peaks;
# - "grid": each band's highest point of a grid at 5 frequencies a peak width, at most
#   N_FREQUENCIES (what object models saved before session 19 were fitted with).
# Object models keep scoring with the search they were fitted with (objects.ObjectModel).
PERIOD_SEARCHES = ("peaks", "zoom", "grid")
CANDIDATES = {"peaks": 48, "zoom": 32}


def band_order(bands: Sequence[str]) -> list[str]:
    """Survey bands in wavelength order (u g r i z y), others after them by name."""
    def key(b: str) -> tuple[int, str]:
        return (WAVELENGTH_ORDER.index(b), "") if len(b) == 1 and b in WAVELENGTH_ORDER \
            else (len(WAVELENGTH_ORDER), b)
    return sorted(bands, key=key)


def feature_names(bands: Sequence[str]) -> list[str]:
    order = band_order(bands)
    names = [f"{b}.{f}" for b in order for f in BAND_FEATURES]
    return names + [f"colour.{a}-{b}" for a, b in pairwise(order)]


def _log(x: np.ndarray) -> np.ndarray:
    """log10 where positive and finite, else NaN (elementwise)."""
    x = np.asarray(x, float)
    ok = np.isfinite(x) & (x > 0)
    return np.where(ok, np.log10(np.where(ok, x, 1.0)), np.nan)


@dataclass
class BandRows:
    """Every (object, band)'s usable epochs as padded rows: row i * n_bands + j is object
    i's band j (`band_order`), its first `n[row]` cells in time order; padding is 0 in
    `t` and `v`, 1 in `e` (a row whose curve has no errors: NaN)."""

    t: np.ndarray  # (rows, P)
    v: np.ndarray
    e: np.ndarray
    n: np.ndarray  # (rows,)
    bands: int = 1  # rows per object


def band_rows(curves: Sequence[LightCurve], order: Sequence[str]) -> BandRows:
    ts, vs, es, counts = [], [], [], []
    for c in curves:
        labels = c.band_labels()
        for b in order:
            sel = c.mask & (labels == b)
            ts.append(c.time[sel])
            vs.append(c.flux[sel])
            es.append(c.flux_err[sel] if c.flux_err is not None
                      else np.full(ts[-1].size, np.nan))
            counts.append(ts[-1].size)
    n = np.array(counts, dtype=np.int64)
    rows, width = n.size, max(1, int(n.max(initial=0)))
    t, v, e = np.zeros((rows, width)), np.zeros((rows, width)), np.ones((rows, width))
    if n.sum():
        row = np.repeat(np.arange(rows), n)
        pos = np.arange(row.size) - np.repeat(np.cumsum(n) - n, n)
        t[row, pos] = np.concatenate(ts)
        v[row, pos] = np.concatenate(vs)
        e[row, pos] = np.concatenate(es)
    return BandRows(t, v, e, n, len(order))


def _order_stat(s: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.take_along_axis(s, k[:, None], axis=1)[:, 0]


def _medians(sorted_rows: np.ndarray, n: np.ndarray) -> np.ndarray:
    """np.median of every row's first n values (rows sorted, n >= 1)."""
    return 0.5 * (_order_stat(sorted_rows, (n - 1) // 2) + _order_stat(sorted_rows, n // 2))


def _percentile(sorted_rows: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """np.percentile(..., q) (linear) of every row's first n values (rows sorted)."""
    pos = q / 100.0 * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    a, b = _order_stat(sorted_rows, lo), _order_stat(sorted_rows, hi)
    return a + (b - a) * (pos - lo)


def band_features(rows: BandRows, periods: bool = True, search: str = "peaks"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, `BAND_FEATURES`) of every band row at once, and each row's median (the colours'
    levels); a row with fewer than `MIN_EPOCHS` epochs: NaN."""
    out = np.full((rows.n.size, len(BAND_FEATURES)), np.nan)
    medians = np.full(rows.n.size, np.nan)
    use = rows.n >= MIN_EPOCHS
    if not use.any():
        return out, medians
    n, t, v, e = rows.n[use], rows.t[use], rows.v[use], rows.e[use]
    ok = np.arange(v.shape[1]) < n[:, None]
    nf = n.astype(float)
    s = np.sort(np.where(ok, v, np.inf), axis=1)
    med = _medians(s, n)
    mean = np.where(ok, v, 0.0).sum(axis=1) / nf
    dev = np.where(ok, v - mean[:, None], 0.0)
    sd = np.sqrt((dev * dev).sum(axis=1) / nf)
    mad = 1.4826 * _medians(np.sort(np.where(ok, np.abs(v - med[:, None]), np.inf), axis=1), n)
    amp = _percentile(s, n, 95) - _percentile(s, n, 5)
    level = np.where(med != 0, np.abs(med), 1.0)
    res = np.full((n.size, len(BAND_FEATURES)), np.nan)
    res[:, 0] = np.log10(nf)
    res[:, 1] = _log(mad / level)
    res[:, 2] = _log(amp / level)
    var = sd > 0
    z = dev / np.where(var, sd, 1.0)[:, None]
    d = np.diff(v, axis=1)
    d = np.where(ok[:, 1:], d * d, 0.0).sum(axis=1) / (nf - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        res[:, 3] = np.where(var, (z ** 3).sum(axis=1) / nf, np.nan)
        res[:, 4] = np.where(var, (z ** 4).sum(axis=1) / nf - 3.0, np.nan)
        res[:, 5] = np.where(var, _log(d / sd ** 2), np.nan)
        res[:, 6] = np.where(var, (ok & (np.abs(z) > 1.0)).sum(axis=1) / nf, np.nan)
        has_err = np.all(~ok | (e > 0), axis=1)  # NaN errors (none given) fail too
        chi = np.where(ok, (v - med[:, None]) / np.where(ok, e, 1.0), 0.0)
        res[:, 7] = np.where(has_err, _log((chi * chi).sum(axis=1) / nf), np.nan)
    if periods:
        err = np.where(np.isfinite(e), e, 1.0)  # no errors: equal weights
        period, power = best_periods(t, v, err, n, np.flatnonzero(use) // rows.bands, search)
        res[:, 8], res[:, 9] = _log(period), power
    out[use], medians[use] = res, med
    return out, medians


# phasors of one batch of periodogram rows: 256 KB (two 50-epoch rows at 20,000 frequencies);
# 4 rows ran 2x slower, 64 rows 3x (each elementwise pass then streams from memory)
PHASOR_BYTES = 2 ** 18


def _weighted(v: np.ndarray, e: np.ndarray, ok: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised weights 1/e^2, the weighted-mean-centred values (0 off `ok`) and their
    weighted variance, per row."""
    w = np.where(ok, 1.0 / np.square(np.where(ok, e, 1.0)), 0.0)
    w /= w.sum(axis=1, keepdims=True)
    y = np.where(ok, v - (w * v).sum(axis=1, keepdims=True), 0.0)
    return w, y, (w * y * y).sum(axis=1)


def _turns(cycles: np.ndarray) -> np.ndarray:
    """e^{2 pi i cycles} in single precision, the whole turns taken off in double precision
    first (the phase exact to ~1e-7 rad after 10^5 turns): single-precision cos and sin are
    vectorised, ~10x faster than the double-precision complex exp."""
    x = cycles - np.rint(cycles)
    x *= 2 * np.pi
    x32 = x.astype(np.float32)
    out = np.empty(x.shape, np.complex64)
    np.cos(x32, out=out.real)
    np.sin(x32, out=out.imag)
    return out


def _ladder(base: np.ndarray, step: np.ndarray, n: int) -> np.ndarray:
    """(..., n) e^{2 pi i (base + k step)} for k < n (`base`, `step`: cycles, any shape):
    with k = j m + i (m ~ sqrt(n)), the phasors of base + j m step and of i step
    (`_turns`, ~2 sqrt(n) of them) multiplied, one complex product a phasor instead of a
    cosine and a sine (~8x cheaper); the phase exact to ~1e-6 rad."""
    m = max(1, int(np.ceil(np.sqrt(n))))
    hi = _turns(base[..., None] + step[..., None] * (m * np.arange(-(-n // m), dtype=float)))
    lo = _turns(step[..., None] * np.arange(m, dtype=float))
    out = hi[..., :, None] * lo[..., None, :]
    return out.reshape(*base.shape, -1)[..., :n]


def _phasors(tt: np.ndarray, f0: np.ndarray, df: np.ndarray, n_a: int, block: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """L (rows, n_a, P) = e^{2 pi i (f0 + a block df) t} and R (rows, P, block) =
    e^{2 pi i b df t} (`_ladder`): L[a] R[b] is the phasor of frequency f0 + (a block + b) df."""
    left = _ladder(f0[:, None] * tt, (block * df)[:, None] * tt, n_a)
    return np.ascontiguousarray(left.transpose(0, 2, 1)), _ladder(0 * tt, df[:, None] * tt,
                                                                  block)


def _gls(cw: np.ndarray, sw: np.ndarray, yc: np.ndarray, ys: np.ndarray, c2: np.ndarray,
         s2: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Generalised Lomb-Scargle power (astropy's standard normalisation) from the weighted
    sums of cos x, sin x, y cos x, y sin x, cos 2x, sin 2x (x = 2 pi f t), in [0, 1]; 0
    where the values are constant, and where the epochs' phases do not span the circle:
    the determinant of the weighted covariance of (cos x, sin x), at most 1/4, under
    `DEGENERATE` (e.g. every visit at the same time of night, at 1, 2, ... cycles a day).
    There the sine and cosine are one column and the single-precision sums' rounding is
    the power (values of 1e3 or inf, found on ZTF-like alert histories in session 34)."""
    cc = 0.5 * (1 + c2) - cw * cw
    ss = 0.5 * (1 - c2) - sw * sw
    cs = 0.5 * s2 - cw * sw
    num = ss * yc * yc
    num += cc * ys * ys
    num -= 2 * cs * yc * ys
    d = cc * ss
    d -= cs * cs
    fit = (d > DEGENERATE) & (yy[:, None] > 0)
    d *= yy[:, None].astype(d.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        power = num / d
    return np.clip(np.where(fit, power, 0.0), 0.0, 1.0)


def _gls_power(t: np.ndarray, v: np.ndarray, e: np.ndarray, ok: np.ndarray, f0: np.ndarray,
               df: np.ndarray, n_a: int, block: int) -> np.ndarray:
    """(rows, n_a * block) power of padded rows (`ok`: the real cells) on each row's grid
    f0 + k df, every sum from complex single-precision GEMMs (`lomb_scargle_power`)."""
    tt = np.where(ok, t - t[:, :1], 0.0)
    left, right = _phasors(tt, f0, df, n_a, block)
    return _gls_products(v, e, ok, left, right)


def _gls_products(v: np.ndarray, e: np.ndarray, ok: np.ndarray, left: np.ndarray,
                  right: np.ndarray) -> np.ndarray:
    """(rows, A * B) power at the frequencies whose phasors are left[:, a] * right[:, :, b]
    (left (rows, A, P), right (rows, P, B))."""
    w, y, yy = _weighted(v, e, ok)
    wl = left * w.astype(np.float32)[:, None, :]
    stacked = np.concatenate([wl, wl * y.astype(np.float32)[:, None, :]], axis=1)
    sums = np.matmul(stacked, right).reshape(v.shape[0], 2, -1)
    twice = np.matmul(wl * left, np.square(right)).reshape(v.shape[0], -1)
    return _gls(sums[:, 0].real, sums[:, 0].imag, sums[:, 1].real, sums[:, 1].imag,
                twice.real, twice.imag, yy)


def _classical_power(t: np.ndarray, v: np.ndarray, e: np.ndarray, ok: np.ndarray,
                     f0: np.ndarray, df: np.ndarray, n_a: int, block: int) -> np.ndarray:
    """(rows, n_a * block) classical (Schuster) periodogram 2 |sum w y e^{ix}|^2 / sum w y^2
    (w the normalised weights, y about the weighted mean) on each row's grid f0 + k df: the
    generalised power without its window terms (equal to it where the phases cover the
    circle evenly); 0 where the values are constant.

    Both sides of a centre at once: with x = 2 pi (c + o) t, the real products of
    w y (cos, sin)(2 pi c t) with (cos, sin)(2 pi o t) give the sums at c + o and at c - o
    (cos(a -+ b) = cos a cos b +- sin a sin b): one real GEMM of n_a / 2 centres by `block`
    offsets (o = (b + 1/2) df) gives n_a * block frequencies, half the multiplications of
    the complex GEMM of `_gls_power`."""
    w, y, yy = _weighted(v, e, ok)
    tt = np.where(ok, t - t[:, :1], 0.0)
    n_c = -(-n_a // 2)
    centre = _ladder((f0 + (block - 0.5) * df)[:, None] * tt, (2 * block * df)[:, None] * tt,
                     n_c) * (w * y).astype(np.float32)[:, :, None]  # (rows, P, n_c)
    side = _ladder((0.5 * df)[:, None] * tt, df[:, None] * tt, block)  # (rows, P, block)
    left = np.concatenate([centre.real, centre.imag], axis=2).transpose(0, 2, 1)
    m = np.matmul(left, np.concatenate([side.real, side.imag], axis=2))
    cc, cs = m[:, :n_c, :block], m[:, :n_c, block:]
    sc, ss = m[:, n_c:, :block], m[:, n_c:, block:]
    both = np.square(cc)
    both += np.square(ss)
    both += np.square(sc)
    both += np.square(cs)
    cross = sc * cs
    cross -= cc * ss
    cross *= 2
    out = np.empty((v.shape[0], n_c, 2 * block), np.float32)
    np.subtract(both, cross, out=out[:, :, block - 1::-1])  # c - o, o = (b + 1/2) df
    np.add(both, cross, out=out[:, :, block:])  # c + o
    out *= (2.0 / np.where(yy > 0, yy, np.inf)).astype(np.float32)[:, None, None]
    return out.reshape(v.shape[0], -1)[:, : n_a * block]


def _add_rows(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """out[index[i], :width] += values[i] for every row i, in order (indices repeat): the
    sums np.add.at gives, ~20x faster for a few long rows."""
    width = values.shape[1]
    for i, row in zip(index.tolist(), values, strict=True):
        out[i, :width] += row


def _candidates(f0: np.ndarray, df: np.ndarray, power: np.ndarray, n_freq: np.ndarray,
                n_candidates: int) -> np.ndarray:
    """(rows, n_candidates) start frequencies of the zoomed searches: one coarse step below
    each of the highest local maxima of the coarse, finite `power` (on f0 + k df,
    k < n_freq)."""
    rows, width = power.shape
    p = np.where(np.arange(width) < n_freq[:, None], power, -np.inf)
    if width % 2:
        p = np.concatenate([p, np.full((rows, 1), -np.inf, p.dtype)], axis=1)
    # a peak is >= its left neighbour and > its right one; two neighbours are never both
    # peaks, so each pair (2k, 2k + 1) holds at most one: the selection runs over the pairs
    first, second = p[:, 0::2], p[:, 1::2]
    peak_1 = first > second
    peak_1[:, 1:] &= first[:, 1:] >= second[:, :-1]
    second_peak = second >= first
    second_peak[:, :-1] &= second[:, :-1] > first[:, 1:]
    best = np.where(peak_1 | second_peak, np.maximum(first, second), -np.inf)
    n_c = min(n_candidates, best.shape[1])
    top = np.argpartition(best, best.shape[1] - n_c, axis=1)[:, -n_c:]
    # fewer peaks than candidates (short grids): the rest repeat the highest
    top = np.where(np.isfinite(np.take_along_axis(best, top, axis=1)), top,
                   np.argmax(best, axis=1)[:, None])
    cand = 2 * top + np.take_along_axis(second_peak, top, axis=1)
    return f0[:, None] + np.maximum(cand - 1, 0) * df[:, None]


def _refine(t: np.ndarray, v: np.ndarray, e: np.ndarray, ok: np.ndarray, start: np.ndarray,
            df: np.ndarray) -> np.ndarray:
    """(rows, C * (2 REFINE_STEPS + 1)) power on the zoomed grids start[:, c] + j df /
    REFINE_STEPS (j <= 2 REFINE_STEPS: from one coarse step below a candidate to one above)."""
    fine = df / REFINE_STEPS
    tt = np.where(ok, t - t[:, :1], 0.0)
    left = _turns(start[:, :, None] * tt[:, None, :])
    steps = np.arange(2 * REFINE_STEPS + 1, dtype=np.float64)
    right = _turns(fine[:, None, None] * tt[:, :, None] * steps[None, None, :])
    return _gls_products(v, e, ok, left, right)


def lomb_scargle_power(t: np.ndarray, v: np.ndarray, e: np.ndarray, f0: float, df: float,
                       n_freq: int, block: int = 128) -> np.ndarray:
    """Generalised (floating-mean) Lomb-Scargle power, astropy's "standard" normalisation,
    on the regular frequency grid f0 + k df (k < n_freq), of one series.

    The sums over epochs (of w e^{ix}, w y e^{ix} and w e^{2ix}, x = 2 pi f t) are matrix
    products: with k = a * block + b, e^{2 pi i (f0 + k df) t} = L[a, t] R[t, b] where
    L = e^{2 pi i (f0 + a block df) t} and R = e^{2 pi i b df t}, so every frequency's sums
    come from two complex single-precision GEMMs of (n_freq / block + block) x epochs
    phasors (`_turns`) instead of one phasor per frequency and epoch:
    about 5x the rotated-phasor loop this replaced, which was 5x astropy's "fast" method;
    the same power to 1e-4 (tests/models/test_features.py)."""
    n_a = -(-n_freq // block)
    power = _gls_power(t[None], v[None], e[None], np.ones((1, t.size), bool),
                       np.array([f0]), np.array([df]), n_a, block)
    return power[0, :n_freq].astype(float)


def frequency_grid(span: np.ndarray, oversample: float = OVERSAMPLE
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f0, df, n_freq) of each span's coarse search: periods from MIN_PERIOD to the span,
    OVERSAMPLE frequencies per peak width (1 / span), at most N_FREQUENCIES (long survey
    spans are searched coarser than that; `best_periods` zooms in on the highest peaks)."""
    f0, f1 = 1.0 / span, 1.0 / MIN_PERIOD
    n_freq = np.minimum(N_FREQUENCIES, np.maximum(16, np.ceil(oversample * span * (f1 - f0))))
    n_freq = n_freq.astype(np.int64)
    return f0, (f1 - f0) / (n_freq - 1), n_freq


def best_periods(t: np.ndarray, v: np.ndarray, e: np.ndarray, n: np.ndarray,
                 objects: np.ndarray | None = None, search: str = "peaks", block: int = 128
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(period, normalised power) of every padded row (its first `n` cells, times sorted):
    the highest peak of the generalised Lomb-Scargle power of the row's object, periods from
    MIN_PERIOD to the object's longest span (NaN where a row spans under 2 MIN_PERIOD), and
    the row's own power there. `objects` (rows -> object, rows of one object together;
    default: each row its own) makes the bands of an object share one period: their powers
    added, each weighted by its chi^2 about its weighted mean (the multi-band periodogram of
    VanderPlas & Ivezic 2015 with a free mean and amplitude per band), so that sparse bands
    vote together. `search="grid"`: each row's own highest point of a grid at 5 frequencies
    a peak width (at most N_FREQUENCIES), as before session 19 (`PERIOD_SEARCHES`).

    Two passes: the coarse `frequency_grid` (rows of one grid size through `_gls_power` a
    few at a time, `PHASOR_BYTES`), then each object's CANDIDATES highest coarse peaks
    searched again REFINE_STEPS times finer, from one coarse step below to one above
    (`_refine`, REFINE_ROWS rows at once). A peak narrower than the coarse step can fall
    between its points: over 8-year SDSS spans the coarse grid alone found the catalogued RR
    Lyrae period in ~40 % of bands, the two passes in ~63 % (as an exhaustive search at 5
    frequencies a peak width does), the shared period in ~66 % of stars (96 % counting the
    one-day alias; tests/models/test_features.py)."""
    rows = n.size
    period, power = np.full(rows, np.nan), np.full(rows, np.nan)
    last = np.take_along_axis(t, np.maximum(n - 1, 0)[:, None], axis=1)[:, 0]
    span = last - t[:, 0]
    use = np.flatnonzero(span > 2 * MIN_PERIOD)
    if not use.size:
        return period, power
    if search not in PERIOD_SEARCHES:
        raise ValueError(f"period search {search!r}: choose one of {PERIOD_SEARCHES}")
    ok = np.arange(t.shape[1]) < n[:, None]
    if search == "grid":
        return _grid_periods(t, v, e, ok, n, use, span[use], block, period, power)
    owner = np.arange(rows) if objects is None else np.asarray(objects)
    uniq, inv = np.unique(owner[use], return_inverse=True)
    ospan = np.zeros(uniq.size)
    np.maximum.at(ospan, inv, span[use])
    of0, odf, on = frequency_grid(ospan)
    f0, df, n_freq = of0[inv], odf[inv], on[inv]
    n_a = -(-n_freq // block)
    yy = _weighted(v[use], e[use], ok[use])[2]
    weight = yy * np.where(ok[use], 1.0 / np.square(np.where(ok[use], e[use], 1.0)),
                           0.0).sum(axis=1)  # chi^2 about the weighted mean
    combined = np.zeros((uniq.size, int(n_a.max()) * block), np.float32)
    classical = search == "peaks"
    for g, p in _coarse_powers(t, v, e, ok, n, use, f0, df, n_a, block, classical):
        if not classical:  # the generalised power is NaN or inf where degenerate
            p = np.nan_to_num(p)
        _add_rows(combined, inv[g], (p * weight[g, None]).astype(np.float32))
    starts = _candidates(of0, odf, combined, on, CANDIDATES[search])[inv]
    fine = np.empty((use.size, starts.shape[1] * (2 * REFINE_STEPS + 1)))
    for lo in range(0, use.size, REFINE_ROWS):  # the zoomed searches, many rows at once
        r, hi = use[lo: lo + REFINE_ROWS], lo + REFINE_ROWS
        width = max(1, int(n[r].max()))
        fine[lo: hi] = _refine(t[r, :width], v[r, :width], e[r, :width], ok[r, :width],
                               starts[lo: hi], df[lo: hi])
    total = np.zeros((uniq.size, fine.shape[1]))
    _add_rows(total, inv, np.nan_to_num(fine) * weight[:, None])
    best = np.argmax(total, axis=1)[inv]
    a, b = np.divmod(best, 2 * REFINE_STEPS + 1)
    period[use] = 1.0 / (starts[np.arange(use.size), a] + b * df / REFINE_STEPS)
    power[use] = fine[np.arange(use.size), best]
    return period, power


def _coarse_powers(t: np.ndarray, v: np.ndarray, e: np.ndarray, ok: np.ndarray,
                   n: np.ndarray, use: np.ndarray, f0: np.ndarray, df: np.ndarray,
                   n_a: np.ndarray, block: int, classical: bool = False
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(g, power) of the rows use[g] on their grids f0[g] + k df[g] (n_a[g] * block
    frequencies), rows of one grid size and like widths a few at a time (`PHASOR_BYTES`);
    `classical`: `_classical_power` instead of the generalised `_gls_power`."""
    for size in np.unique(n_a):
        group = np.flatnonzero(n_a == size)
        group = group[np.argsort(n[use[group]], kind="stable")]  # like widths together
        lo = 0
        while lo < group.size:
            per_row = 16 * int(size) * int(n[use[group[lo]]])  # bytes of one row's phasors
            hi = min(group.size, lo + max(1, PHASOR_BYTES // per_row))
            g = group[lo: hi]
            lo = hi
            r = use[g]
            width = max(1, int(n[r].max()))
            yield g, (_classical_power if classical else _gls_power)(
                t[r, :width], v[r, :width], e[r, :width], ok[r, :width], f0[g], df[g],
                int(size), block)


def _grid_periods(t: np.ndarray, v: np.ndarray, e: np.ndarray, ok: np.ndarray,
                  n: np.ndarray, use: np.ndarray, span: np.ndarray, block: int,
                  period: np.ndarray, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`best_periods(search="grid")`: each row of `use` (spanning `span`) its own highest
    point of a grid at 5 frequencies a peak width, at most N_FREQUENCIES (the search of
    sessions 10-18)."""
    f0, df, n_freq = frequency_grid(span, oversample=5)
    for g, p in _coarse_powers(t, v, e, ok, n, use, f0, df, -(-n_freq // block), block):
        p = np.where(np.arange(p.shape[1]) < n_freq[g][:, None],
                     np.nan_to_num(p, nan=-np.inf), -np.inf)
        k = np.argmax(p, axis=1)
        r = use[g]
        power[r] = p[np.arange(k.size), k]
        period[r] = 1.0 / (f0[g] + k * df[g])
    return period, power


@functools.cache
def _threads() -> ThreadpoolController:
    """The process's thread pools, found once (a search of the loaded libraries cost 6 ms
    a call)."""
    return ThreadpoolController()


def feature_matrix(curves: Sequence[LightCurve], bands: Sequence[str] | None = None,
                   periods: bool = True, chunk: int = 256, search: str = "peaks"
                   ) -> tuple[np.ndarray, list[str]]:
    """(objects x features, names) in `feature_names(bands)` order (a band an object lacks:
    NaN); `bands` default: every band any curve has. Computed `chunk` objects at a time, each
    statistic for all their bands at once (`band_rows`, `band_features`)."""
    if bands is None:
        bands = sorted({b for c in curves for b in c.bands})
    order = band_order(bands)
    names = feature_names(bands)
    out = np.empty((len(curves), len(names)))
    nb, nf = len(order), len(BAND_FEATURES)
    for lo in range(0, len(curves), chunk):
        part = curves[lo: lo + chunk]
        # one BLAS thread: the periodogram's GEMMs are small (~16 MFLOP), a second thread
        # gains nothing, and where other threads compete (the service, TensorFlow) OpenBLAS's
        # spinning threads made them 3-6x slower
        with _threads().limit(limits=1, user_api="blas"):
            per_band, med = band_features(band_rows(part, order), periods, search)
        out[lo: lo + len(part), : nb * nf] = per_band.reshape(len(part), nb * nf)
        med = med.reshape(len(part), nb)
        with np.errstate(divide="ignore", invalid="ignore"):
            for j in range(nb - 1):
                a, b = med[:, j], med[:, j + 1]
                out[lo: lo + len(part), nb * nf + j] = np.where(
                    (a > 0) & (b > 0), -2.5 * np.log10(a / b), np.nan)
    return out, names


def object_features(curve: LightCurve, bands: Sequence[str], periods: bool = True
                    ) -> np.ndarray:
    """One object's features in `feature_names(bands)` order (a band it lacks: NaN)."""
    return feature_matrix([curve], bands, periods)[0][0]


def robust_standardize(x: np.ndarray) -> np.ndarray:
    """NaN -> the column median; each column centred on its median and scaled by its IQR
    (std where the IQR is 0), clipped to +-10: a few extreme objects do not set the scale."""
    x = np.array(x, dtype=float)
    finite = np.isfinite(x)
    med = np.array([np.median(col[ok]) if ok.any() else 0.0 for col, ok in zip(x.T, finite.T,
                                                                                 strict=True)])
    x = np.where(finite, x, med)
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    scale = np.where(scale > 1e-12, scale, np.maximum(x.std(axis=0), 1e-12))
    return np.clip((x - med) / scale, -10.0, 10.0)
