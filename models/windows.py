"""Cut resampled curves into (n_windows, window * n_bands) arrays, and map windows back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.lib.stride_tricks import as_strided

from lcad.models.errors import LightCurveError
from lcad.models.preprocess import Resampled


def window_batches(counts: Sequence[int], limit: int) -> Iterator[list[int]]:
    """Consecutive groups of the indices of `counts` (windows per curve), each closed once
    its windows reach `limit`: short curves that share one network call or one
    nearest-neighbour product."""
    group: list[int] = []
    n = 0
    for i, c in enumerate(counts):
        group.append(i)
        n += c
        if n >= limit:
            yield group
            group, n = [], 0
    if group:
        yield group


@dataclass
class Windows:
    """Band-major windows of one resampled curve: row i holds band 0's `window` points, then
    band 1's... Windows are cut from the grid arrays on demand (`cut`), so that a caller pays
    only for the arrays it uses."""

    res: Resampled
    starts: np.ndarray  # (n_windows,) first grid index of each window
    window: int
    n_bands: int

    @property
    def n_windows(self) -> int:
        return int(self.starts.size)

    def cut(self, a: np.ndarray, out: np.ndarray | None = None,
            rows: slice = slice(None)) -> np.ndarray:
        """(n_bands, n_grid) grid array -> (n_windows, n_bands * window), same dtype (or
        written into `out`, any (n, n_bands * window) array, cast as needed); `rows` cuts only
        those windows."""
        starts = self.starts[rows]
        cells = self._view(a, starts).transpose(1, 0, 2)  # (n_w, nb, w)
        if out is None:
            return np.ascontiguousarray(cells).reshape(starts.size, self.n_bands * self.window)
        target = out.view()
        target.shape = (starts.size, self.n_bands, self.window)  # raises rather than copy
        np.copyto(target, cells, casting="unsafe")
        return out

    def _view(self, a: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(n_bands, len(starts), window) windows of a grid array: a strided view (no copy)
        when the starts are regular (the usual case), else gathered."""
        n_bands, n_grid = a.shape
        step_b, step_t = a.strides
        view = as_strided(a, shape=(n_bands, n_grid - self.window + 1, self.window),
                          strides=(step_b, step_t, step_t), writeable=False)
        if starts.size > 1:
            first, step = int(starts[0]), int(starts[1] - starts[0])
            if step > 0 and int(starts[-1]) - first == step * (starts.size - 1) and \
                    bool(np.all(np.diff(starts) == step)):
                return view[:, first: first + step * (starts.size - 1) + 1: step, :]
        return view[:, starts, :]

    def rows(self, a: np.ndarray, rows: slice) -> np.ndarray:
        """Read-only `cut(a, rows=rows)`: a strided view of the grid, without a copy, when
        the curve has one band and those windows start at regular steps (the usual case)."""
        if self.n_bands == 1:
            return self._view(a, self.starts[rows])[0]
        return self.cut(a, rows=rows)

    @cached_property
    def x(self) -> np.ndarray:
        """Raw values, NaN where masked."""
        return self.cut(self.res.values)

    @cached_property
    def mask(self) -> np.ndarray:
        return self.cut(self.res.mask)

    @cached_property
    def err(self) -> np.ndarray:
        return self.cut(self.res.err)

    @cached_property
    def band_counts(self) -> np.ndarray:
        """(n_windows, n_bands) valid cells of each band in each window (from the grid)."""
        c = np.concatenate([np.zeros((self.n_bands, 1), np.int64),
                            np.cumsum(self.res.mask, axis=1)], axis=1)
        return (c[:, self.starts + self.window] - c[:, self.starts]).T

    def valid_fraction(self) -> np.ndarray:
        return self.band_counts.sum(axis=1) / (self.n_bands * self.window)


def window_starts(n_grid: int, window: int, stride: int) -> np.ndarray:
    """Start indices every `stride` points, plus a last window flush with the end."""
    if n_grid < window:
        return np.zeros(0, dtype=np.int64)
    starts = np.arange(0, n_grid - window + 1, stride, dtype=np.int64)
    if starts[-1] != n_grid - window:
        starts = np.append(starts, n_grid - window)
    return starts


def make_windows(res: Resampled, window: int, stride: int) -> Windows:
    """All windows of a resampled curve; raises LightCurveError when it is shorter than one."""
    if res.n_grid < window:
        raise LightCurveError(
            f"too short: {res.n_grid} grid points after resampling, a window needs {window}",
            object_id=res.object_id,
            field="time",
        )
    starts = window_starts(res.n_grid, window, stride)
    return Windows(res, starts, window, res.values.shape[0])


def one_window(res: Resampled, band_counts: np.ndarray) -> Windows:
    """The one window of a curve resampled onto exactly one window's grid (whole-curve
    mode), whose (n_bands,) valid cells a batch has counted already."""
    win = Windows(res, np.zeros(1, np.int64), res.n_grid, res.values.shape[0])
    win.__dict__["band_counts"] = band_counts[None, :]  # the cached property's value
    return win


def window_times(res: Resampled, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Start and end time of every window."""
    return res.grid_time[windows.starts], res.grid_time[windows.starts + windows.window - 1]


def coverage_count(starts: np.ndarray, window: int, n_grid: int,
                   row_ok: np.ndarray | None = None) -> np.ndarray:
    """(n_grid,) number of windows (those with `row_ok`, default all) covering each point."""
    s = starts if row_ok is None else starts[row_ok]
    diff = np.bincount(s, minlength=n_grid + 1) - np.bincount(s + window, minlength=n_grid + 1)
    return np.cumsum(diff)[:n_grid]


def coverage_mean(
    values: np.ndarray, starts: np.ndarray, window: int, n_grid: int
) -> np.ndarray:
    """Mean, over the windows covering each grid point, of a per-window value (NaN = skip).

    Points that no usable window covers get NaN.
    """
    ok = np.isfinite(values)
    v = values[ok].astype(np.float64)
    if v.size == 1:  # one window (a whole survey curve)
        return _over_one_window(float(v[0]), int(starts[ok][0]), window, n_grid)
    diff = (np.bincount(starts[ok], weights=v, minlength=n_grid + 1)
            - np.bincount(starts[ok] + window, weights=v, minlength=n_grid + 1))
    total = np.cumsum(diff)[:n_grid]
    count = coverage_count(starts, window, n_grid, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def level_start(grid: np.ndarray, values: np.ndarray, starts: np.ndarray, window: int
                ) -> np.ndarray:
    """`coverage_mean`'s `grid` (windows of `window` grid points) with the points before the
    end of the first usable window set to the value there, the mean over the windows that
    start from the first up to it (a full set: every window covering it); where the curve's
    windows stop before that point, the mean of all of them."""
    ok = np.isfinite(values)
    if not ok.any():
        return grid
    st = starts[ok]
    first, last = int(st.min()), int(st.max())
    full = first + window - 1
    out = grid.copy()
    if last >= full:
        if np.isfinite(grid[full]):
            out[first:full] = grid[full]
    else:
        out[first: min(last + window, grid.size)] = float(np.mean(values[ok]))
    return out


def _over_one_window(value: float, start: int, window: int, n_grid: int) -> np.ndarray:
    """What every coverage_* gives for one usable window: its (finite) value over its span,
    NaN elsewhere."""
    out = np.full(n_grid, np.nan)
    out[start: start + window] = value
    return out


def coverage_max(
    values: np.ndarray, starts: np.ndarray, window: int, n_grid: int
) -> np.ndarray:
    """Largest per-window value over the windows covering each grid point (NaN = skip);
    points that no usable window covers get NaN. `starts` are distinct."""
    ok = np.isfinite(values)
    v, st = values[ok].astype(np.float64), starts[ok]
    if v.size == 1:  # one window (a whole survey curve)
        return _over_one_window(float(v[0]), int(st[0]), window, n_grid)
    out = np.full(n_grid, -np.inf)
    for k in range(window):  # distinct starts: no index repeats within one offset
        idx = st + k
        inside = idx < n_grid
        out[idx[inside]] = np.maximum(out[idx[inside]], v[inside])
    return np.where(np.isfinite(out), out, np.nan)


def coverage_min(
    values: np.ndarray, starts: np.ndarray, window: int, n_grid: int
) -> np.ndarray:
    """Smallest per-window value over the usable windows covering each grid point (NaN =
    skip): a point scores high only when every window that sees it does. Points that no
    usable window covers get NaN. `starts` are distinct."""
    ok = np.isfinite(values)
    v, st = values[ok].astype(np.float64), starts[ok]
    out = np.full(n_grid, np.inf)
    for k in range(window):  # distinct starts: no index repeats within one offset
        idx = st + k
        inside = idx < n_grid
        out[idx[inside]] = np.minimum(out[idx[inside]], v[inside])
    return np.where(np.isfinite(out), out, np.nan)


DIAGONAL_BLOCK = 4096


def diagonal_sums(cells: np.ndarray, starts: np.ndarray, n_grid: int,
                  out: np.ndarray | None = None) -> np.ndarray:
    """(n_grid,) sum over windows of (n_windows, window) cells placed at their grid points
    (added to `out` when given: windows can come in chunks).

    Regular starts (every `stride`, the usual case) are added one window column at a time as
    strided slices: no index arrays, no copies of the cells.
    """
    if out is None:
        out = np.zeros(n_grid)
    n, window = cells.shape
    if n == 0:
        return out
    step = int(starts[1] - starts[0]) if n > 1 else 1
    regular = starts == starts[0] + step * np.arange(n)
    m = n if regular.all() else int(np.argmin(regular))
    if step <= 0:
        m = 1
    first = int(starts[0])
    for lo in range(0, m, DIAGONAL_BLOCK):  # row blocks that stay in cache
        block = cells[lo: min(m, lo + DIAGONAL_BLOCK)]
        k = block.shape[0]
        base = first + step * lo
        if step == 1:  # stride 1: grid point n sums the block's anti-diagonal i + j = n
            out[base: base + k + window - 1] += _anti_diagonal_sums(block)
            continue
        for j in range(window):
            out[base + j: base + j + step * (k - 1) + 1: step] += block[:, j]
    if m < n:  # irregular tail (e.g. the last window, flush with the end)
        np.add.at(out, starts[m:, None] + np.arange(window)[None, :], cells[m:])
    return out


def _anti_diagonal_sums(block: np.ndarray) -> np.ndarray:
    """(k + w - 1,) sums of the anti-diagonals of a (k, w) block, in float64: one strided
    view over a zero-padded copy (row n of the view holds the cells with i + j = n)."""
    k, w = block.shape
    pad = np.zeros((k + 2 * (w - 1), w), block.dtype)
    pad[w - 1: w - 1 + k] = block
    size = pad.itemsize
    view = as_strided(pad.ravel()[w - 1:], shape=(k + w - 1, w),
                      strides=(w * size, (w - 1) * size), writeable=False)
    return view.sum(axis=1, dtype=np.float64)
