"""Cut resampled curves into (n_windows, window * n_bands) arrays, and map windows back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models.errors import LightCurveError
from models.preprocess import Resampled


@dataclass
class Windows:
    """Band-major windows of one curve: row i holds band 0's `window` points, then band 1's..."""

    x: np.ndarray  # (n_windows, n_bands * window) raw values, NaN where masked
    mask: np.ndarray  # (n_windows, n_bands * window) bool
    err: np.ndarray  # (n_windows, n_bands * window)
    starts: np.ndarray  # (n_windows,) first grid index of each window
    window: int
    n_bands: int

    @property
    def n_windows(self) -> int:
        return int(self.starts.size)

    def valid_fraction(self) -> np.ndarray:
        return self.mask.mean(axis=1)


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
    nb = res.values.shape[0]

    def cut(a: np.ndarray) -> np.ndarray:
        view = sliding_window_view(a, window, axis=1)[:, starts, :]  # (nb, n_w, window)
        return np.ascontiguousarray(view.transpose(1, 0, 2)).reshape(starts.size, nb * window)

    return Windows(cut(res.values), cut(res.mask), cut(res.err), starts, window, nb)


def window_times(res: Resampled, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Start and end time of every window."""
    return res.grid_time[windows.starts], res.grid_time[windows.starts + windows.window - 1]


def coverage_mean(
    values: np.ndarray, starts: np.ndarray, window: int, n_grid: int
) -> np.ndarray:
    """Mean, over the windows covering each grid point, of a per-window value (NaN = skip).

    Points that no usable window covers get NaN.
    """
    ok = np.isfinite(values)
    diff_sum = np.zeros(n_grid + 1)
    diff_cnt = np.zeros(n_grid + 1)
    np.add.at(diff_sum, starts[ok], values[ok])
    np.add.at(diff_sum, starts[ok] + window, -values[ok])
    np.add.at(diff_cnt, starts[ok], 1.0)
    np.add.at(diff_cnt, starts[ok] + window, -1.0)
    total = np.cumsum(diff_sum)[:n_grid]
    count = np.rint(np.cumsum(diff_cnt)[:n_grid])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def point_scores(errors: np.ndarray, n_points: int, window: int, stride: int) -> np.ndarray:
    """Point score = mean error of the windows covering the point (windows every `stride`)."""
    starts = window_starts(n_points, window, stride)
    return coverage_mean(np.asarray(errors, dtype=np.float64), starts, window, n_points)


def overlap_average(
    cells: np.ndarray, cell_ok: np.ndarray, starts: np.ndarray, window: int, n_grid: int,
    n_bands: int,
) -> np.ndarray:
    """Per-(band, grid point) mean of window cells (e.g. reconstructions) over covering windows."""
    n_w = starts.size
    c = cells.reshape(n_w, n_bands, window)
    ok = cell_ok.reshape(n_w, n_bands, window)
    idx = starts[:, None] + np.arange(window)[None, :]  # (n_w, window)
    out = np.full((n_bands, n_grid), np.nan)
    for b in range(n_bands):
        s = np.bincount(idx[ok[:, b, :]], weights=c[:, b, :][ok[:, b, :]], minlength=n_grid)
        k = np.bincount(idx[ok[:, b, :]], minlength=n_grid)
        out[b] = np.where(k > 0, s / np.maximum(k, 1), np.nan)
    return out
