import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from lcad.models.errors import LightCurveError
from lcad.models.preprocess import Resampled
from lcad.models.windows import (
    coverage_mean,
    diagonal_sums,
    make_windows,
    window_starts,
)


def _res(values, mask=None):
    values = np.asarray(values, dtype=float)
    nb, n = values.shape
    return Resampled("x", np.arange(n) * 0.5, values,
                     np.ones_like(values, bool) if mask is None else np.asarray(mask),
                     np.ones_like(values), np.zeros(n, int), np.arange(n), np.zeros(nb),
                     np.ones(nb))


def test_window_starts_cover_the_tail():
    assert_array_equal(window_starts(10, 4, 3), [0, 3, 6])
    assert_array_equal(window_starts(11, 4, 3), [0, 3, 6, 7])
    assert window_starts(3, 4, 1).size == 0


def test_windows_are_band_major():
    res = _res([[0, 1, 2, 3], [10, 11, 12, 13]])
    w = make_windows(res, window=3, stride=1)
    assert_array_equal(w.x, [[0, 1, 2, 10, 11, 12], [1, 2, 3, 11, 12, 13]])
    assert_array_equal(w.starts, [0, 1])
    assert w.x.dtype == np.float64 and w.mask.all()


def test_too_short_names_the_lengths():
    with pytest.raises(LightCurveError, match="3 grid points after resampling, a window needs 4"):
        make_windows(_res([[1, 2, 3]]), window=4, stride=1)


def test_coverage_mean_averages_the_covering_windows():
    assert_allclose(coverage_mean(np.array([2.0, 4.0]), np.array([0, 2]), 3, 6),
                    [2, 2, 3, 4, 4, np.nan])
    errors = np.array([1.0, 3.0])  # two windows of length 2, stride 1
    assert_allclose(coverage_mean(errors, np.array([0, 1]), 2, 3), [1.0, 2.0, 3.0])
    assert_allclose(coverage_mean(np.array([np.nan, 4.0]), np.array([0, 1]), 2, 3),
                    [np.nan, 4.0, 4.0])  # an unusable window adds nothing


@pytest.mark.parametrize("stride", [1, 2, 3, 5])
def test_diagonal_sums_match_index_arithmetic(stride):
    rng = np.random.default_rng(stride)
    n_grid, window = 50, 7
    starts = window_starts(n_grid, window, stride)
    cells = rng.normal(size=(starts.size, window))
    expected = np.zeros(n_grid)
    np.add.at(expected, starts[:, None] + np.arange(window), cells)
    assert_allclose(diagonal_sums(cells, starts, n_grid), expected)
    shuffled = rng.permutation(starts.size)  # irregular starts take the general path
    assert_allclose(diagonal_sums(cells[shuffled], starts[shuffled], n_grid), expected)


@pytest.mark.parametrize(("values", "starts"), [
    ([2.0], [3]),  # one window: a whole survey curve
    ([1.0, 5.0, np.nan, 3.0], [0, 2, 4, 6]),
    ([4.0], [8]),  # running past the grid's end
])
def test_coverage_max_is_the_largest_covering_value(values, starts):
    from lcad.models.windows import coverage_max

    values, starts, window, n_grid = np.array(values), np.array(starts), 4, 10
    got = coverage_max(values, starts, window, n_grid)
    want = np.full(n_grid, np.nan)
    for v, s in zip(values, starts, strict=True):
        if np.isfinite(v):
            span = slice(s, min(s + window, n_grid))
            want[span] = np.fmax(want[span], v)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("values", "starts"), [
    ([2.0], [3]),
    ([1.0, 5.0, np.nan, 3.0], [0, 2, 4, 6]),
    ([4.0], [8]),
])
def test_coverage_min_is_the_smallest_covering_value(values, starts):
    """A point scores what its least surprised covering window says (novelty_spread=min)."""
    from lcad.models.windows import coverage_min

    values, starts, window, n_grid = np.array(values), np.array(starts), 4, 10
    got = coverage_min(values, starts, window, n_grid)
    want = np.full(n_grid, np.nan)
    for v, s in zip(values, starts, strict=True):
        if np.isfinite(v):
            span = slice(s, min(s + window, n_grid))
            want[span] = np.fmin(want[span], v)
    np.testing.assert_array_equal(got, want)


def test_level_start_gives_the_first_points_the_mean_over_a_full_set_of_windows():
    from lcad.models.windows import level_start

    values = np.array([5.0, 1, 1, 1, 1, 1, 1, 1])
    grid = coverage_mean(values, np.arange(8), 3, 10)
    assert_allclose(grid[:3], [5, 3, 7 / 3])  # point 0 is window 0 alone
    levelled = level_start(grid, values, np.arange(8), 3)
    assert_allclose(levelled[:3], 7 / 3) and assert_array_equal(levelled[3:], grid[3:])
    coarse = np.arange(0, 16, 2)  # a coarser view: windows every 2 points, 6 long
    g = coverage_mean(values, coarse, 6, 20)
    assert_allclose(level_start(g, values, coarse, 6)[:6], g[5])
    few = np.array([4.0, 2.0])  # fewer windows than a full set: their mean
    assert_allclose(level_start(coverage_mean(few, np.arange(2), 3, 5), few, np.arange(2), 3)[:4],
                    3.0)
