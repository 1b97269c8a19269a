import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from lcad.models.config import PreprocessConfig
from lcad.models.lightcurve import LightCurve
from lcad.models.preprocess import Preprocessor, resample_band, robust_location_scale
from lcad.models.windows import make_windows


def test_resample_interpolates_short_gaps_and_masks_long_ones():
    t = np.array([0.0, 1.0, 2.0, 6.0, 7.0])
    f = np.array([0.0, 1.0, 2.0, 6.0, 7.0])
    grid = np.arange(0.0, 7.5, 0.5)
    values, valid = resample_band(t, f, grid, step=0.5, max_gap=3.0)
    # inside [2, 6] the gap is 4 time units = 8 steps > 3: masked except near an observation
    expected_valid = [1] * 5 + [0] * 7 + [1] * 3
    assert list(valid.astype(int)) == expected_valid
    assert_allclose(values[valid], grid[valid])


def test_a_cadence_drifting_against_the_grid_keeps_every_observed_value():
    # real cadences are regular but not exactly the grid step: interpolating would average
    # neighbours (shrinking the noise by up to half its variance and smearing single points)
    rng = np.random.default_rng(0)
    t = np.arange(2_000) * 1.0004
    f = rng.normal(size=t.size)
    grid = np.arange(0.0, t[-1], 1.0)
    values, valid = resample_band(t, f, grid, step=1.0, max_gap=3.0)
    assert valid.all()
    nearest = f[np.rint(grid / 1.0004).astype(int)]
    assert_allclose(values, nearest)
    assert abs(values.std() - f.std()) < 0.02


def test_several_series_at_the_same_times_resample_as_each_alone():
    """A band's fluxes and errors go through one search: the same as two calls."""
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 50, 40))
    f, e = rng.normal(size=(2, t.size))
    grid = np.linspace(t[0], t[-1], 64)
    both, valid = resample_band(t, np.stack([f, e]), grid, step=grid[1] - grid[0], max_gap=2)
    for row, series in zip(both, (f, e), strict=True):
        alone, ok = resample_band(t, series, grid, step=grid[1] - grid[0], max_gap=2)
        assert_allclose(row, alone, rtol=0, atol=0)
        assert (ok == valid).all()
    empty, none = resample_band(t[:0], np.zeros((2, 0)), grid, step=1.0, max_gap=2)
    assert empty.shape == (2, 64) and np.isnan(empty).all() and not none.any()


def test_fit_learns_cadence_bands_and_global_stats():
    lc = LightCurve.from_arrays("a", np.arange(10) * 0.1, np.arange(10.0), band=["g", "r"] * 5)
    pre = Preprocessor.fit([lc], PreprocessConfig(window=4, normalization="global"))
    assert pre.bands == ["g", "r"]
    assert abs(pre.cadence - 0.2) < 1e-9
    assert_allclose(pre.band_offset, [4.0, 5.0])


def test_flat_series_gets_a_usable_scale():
    med, scale = robust_location_scale(np.full(10, 5.0))
    assert med == 5.0 and scale > 0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    n=st.integers(8, 80),
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=80, max_size=80),
    steps=st.lists(st.floats(0.01, 3.0), min_size=80, max_size=80),
    norm=st.sampled_from(["robust", "global", "window", "minmax"]),
)
def test_any_finite_input_gives_finite_output_and_aligned_maps(n, values, steps, norm):
    t = np.cumsum(steps[:n])
    f = np.asarray(values[:n])
    lc = LightCurve.from_arrays("h", t, f, emit_warnings=False)
    cfg = PreprocessConfig(window=4, normalization=norm)
    pre = Preprocessor.fit([lc], cfg)
    res = pre.resample(lc)
    assert res.values.shape == res.mask.shape == res.err.shape
    assert np.isfinite(res.values[res.mask]).all()
    assert np.isnan(res.values[~res.mask]).all()
    # every point maps to the grid point nearest its time
    assert (np.abs(res.grid_time[res.point_grid] - lc.time) <= pre.cadence / 2 + 1e-6).all()
    if res.n_grid >= 4:
        w = make_windows(res, 4, 1)
        off, sc = pre.window_offsets(w.x, w.mask, res)
        xn, en = pre.normalize(w.x, w.err, w.mask, off, sc)
        assert xn.shape == w.mask.shape and np.isfinite(xn).all() and (en > 0).all()
        back = pre.denormalize(xn, off, sc)
        tol = 1e-5 * (np.abs(w.x[w.mask]).max() + sc.max())
        assert_allclose(back[w.mask], w.x[w.mask], rtol=1e-5, atol=tol)
