import numpy as np
import pytest
from numpy.testing import assert_allclose

from lcad.models.errors import LightCurveError
from lcad.models.lightcurve import MAG_ZERO_POINT, LightCurve, LightCurveWarning


def test_repairs_are_made_and_reported():
    t = [3.0, 1.0, np.nan, 2.0, 2.0, 4.0]
    f = [30.0, 10.0, 99.0, 20.0, 22.0, np.nan]
    with pytest.warns(LightCurveWarning) as record:
        lc = LightCurve.from_arrays("a", t, f)
    assert_allclose(lc.time, [1.0, 2.0, 3.0, 4.0])
    assert_allclose(lc.flux[:3], [10.0, 21.0, 30.0])
    assert np.isnan(lc.flux[3]) and list(lc.mask) == [True, True, True, False]
    text = " | ".join(lc.warnings)
    assert "dropped 1 point(s) with non-finite time" in text
    assert "masked 1 point(s) with non-finite flux" in text
    assert "not sorted" in text
    assert "merged 1 point(s) with a duplicate time" in text
    assert len(record) == 4


def test_a_curve_built_from_raw_arrays_without_a_mask_is_repaired_as_from_arrays():
    """`lcad.LightCurve("id", t, flux)` (the dataclass, no mask) is the curve `from_arrays`
    builds, not one whose every point is unusable (training failed with an IndexError)."""
    t, f = [3.0, 1.0, np.nan, 2.0, 2.0, 4.0], [30.0, 10.0, 99.0, 20.0, 22.0, np.nan]
    with pytest.warns(LightCurveWarning):
        direct, built = LightCurve("a", t, f), LightCurve.from_arrays("a", t, f)
    for name in ("time", "flux", "mask"):
        assert_allclose(getattr(direct, name), getattr(built, name))
    assert direct.warnings == built.warnings and direct.object_id == "a"
    with pytest.raises(LightCurveError, match="mask has 2 values but time has 3"):
        LightCurve("a", np.arange(3.0), np.ones(3), mask=np.ones(2, bool))


def test_duplicates_merge_by_inverse_variance_per_band():
    lc = LightCurve.from_arrays("a", [1, 1, 1], [1.0, 3.0, 5.0], [1.0, 1.0, 1.0],
                                ["g", "g", "r"], emit_warnings=False)
    assert len(lc) == 2
    g = lc.band == "g"
    assert_allclose(lc.flux[g], [2.0])
    assert_allclose(lc.flux_err[g], [1 / np.sqrt(2)])


def test_clean_curve_has_no_warnings():
    lc = LightCurve.from_arrays("a", [1, 2, 3], [1.0, 2.0, 3.0])
    assert lc.warnings == []


def test_magnitudes_become_flux():
    lc = LightCurve.from_arrays("a", [1, 2], [MAG_ZERO_POINT, MAG_ZERO_POINT - 2.5], [0.1, 0.1],
                                unit="mag")
    assert_allclose(lc.flux, [1.0, 10.0])
    assert_allclose(lc.flux_err, 0.4 * np.log(10) * np.array([1.0, 10.0]) * 0.1)


def test_bad_errors_are_masked():
    lc = LightCurve.from_arrays("a", [1, 2, 3], [1.0, 2.0, 3.0], [0.1, -1.0, np.nan],
                                emit_warnings=False)
    assert list(lc.mask) == [True, False, False]
    assert "non-positive error" in lc.warnings[0]


@pytest.mark.parametrize(
    ("time", "flux", "message"),
    [
        ([], [], "no points"),
        ([1, 2, 3], [np.nan] * 3, "every flux value is NaN"),
        ([1, 2, 3], [1.0, 2.0], "flux has 2 values but time has 3"),
        ("123", [1.0], "not a string"),
        ([1, "x"], [1.0, 2.0], "only numbers"),
        ([[1, 2]], [[1, 2]], "one-dimensional"),
        ([np.nan, np.inf], [1.0, 2.0], "finite time"),
    ],
)
def test_bad_input_is_named(time, flux, message):
    with pytest.raises(LightCurveError, match=message) as exc:
        LightCurve.from_arrays("obj", time, flux)
    assert "'obj'" in str(exc.value)


def test_mismatched_band_length():
    with pytest.raises(LightCurveError, match="band has 1"):
        LightCurve.from_arrays("a", [1, 2], [1.0, 2.0], band=["g"])


def test_sentinel_magnitudes_and_errors_are_masked_and_reported():
    mag = [17.2, 100.011, 17.4, -99.0, 17.3]
    err = [0.02, 99.999, 0.03, 0.02, 99.999]  # SDSS-style sentinels
    c = LightCurve.from_arrays("rr", [1.0, 2, 3, 4, 5], mag, err, unit="mag",
                               emit_warnings=False)
    assert c.mask.tolist() == [True, False, True, False, False]
    assert any("masked 3 point(s) with a sentinel or non-physical magnitude" in w
               for w in c.warnings)
    with pytest.raises(LightCurveError, match=r"sentinel or non-physical value \(100\.011"):
        LightCurve.from_arrays("rr", [1.0, 2, 3, 4, 5], mag, err, unit="mag", strict=True)
    flux = LightCurve.from_arrays("f", [1.0, 2], [100.011, 5.0], emit_warnings=False)
    assert flux.mask.all()  # fluxes have no physical range: nothing is masked


def test_fluxes_beyond_float_range_are_masked_or_refused():
    flux = [1.0, 2e150, 3.0, -1e300]
    c = LightCurve.from_arrays("big", [1.0, 2, 3, 4], flux, emit_warnings=False)
    assert c.mask.tolist() == [True, False, True, False]
    assert any("masked 2 point(s) with |flux| > 1e+100" in w for w in c.warnings)
    with pytest.raises(LightCurveError, match=r"2e\+150.*rescale") as exc:
        LightCurve.from_arrays("big", [1.0, 2, 3, 4], flux, strict=True)
    assert exc.value.field == "flux[1]"


def test_shared_rr_lyrae_sentinels_are_masked():
    from lcad.models.io import read_curves
    from tests.conftest import shared_data

    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))
    flagged = [c for c in curves if any("sentinel" in w for w in c.warnings)]
    assert flagged, "the SDSS file holds mag 100.011 / magerr 99.999 rows"
    for c in curves:
        assert np.nanmin(c.flux[c.mask]) >= 10 ** (-0.4 * (40 - 22.5))  # no mag > 40
        assert np.all(c.flux_err[c.mask] > 0)


def test_bands_listed_one_after_the_other_are_a_layout_not_a_repair():
    """Survey files and JSON bodies often list a band's epochs, then the next band's: each
    band in time order is accepted (strict too), interleaved by time, with no repair
    reported; a band out of order is still refused, naming the band and the indices."""
    t_g, t_r = np.array([1.0, 3.0, 5.0]), np.array([2.0, 4.0, 6.0])
    t = np.concatenate([t_g, t_r])
    f = np.arange(6.0) + 1
    band = ["g"] * 3 + ["r"] * 3
    for strict in (True, False):
        c = LightCurve.from_arrays("s", t, f, band=band, strict=strict, emit_warnings=False)
        assert c.time.tolist() == [1, 2, 3, 4, 5, 6]
        assert c.band_labels().tolist() == ["g", "r"] * 3
        assert c.flux.tolist() == [1, 4, 2, 5, 3, 6] and not c.warnings
    bad = np.array([1.0, 3.0, 5.0, 2.0, 6.0, 4.0])
    with pytest.raises(LightCurveError, match=r"times of band 'r' are not sorted \(time\[5\]=4 "
                                              r"< time\[4\]=6\)"):
        LightCurve.from_arrays("s", bad, f, band=band, strict=True)
