"""Per-object light-curve features (the survey baseline's half) on known curves."""

import numpy as np
import pytest

from lcad.models.features import (
    BAND_FEATURES,
    band_order,
    feature_matrix,
    feature_names,
    object_features,
    robust_standardize,
)
from lcad.models.lightcurve import LightCurve


def survey_curve(name, period, amp, rng, n=80, bands=("g", "r"), level=(1.0, 1.5)):
    """Two-band sparse curve over ~8 years with nightly clustering, sinusoidal pulsation."""
    t = np.sort(rng.uniform(0, 2900, n))
    time, flux, err, band = [], [], [], []
    for b, lv in zip(bands, level, strict=True):
        f = lv * (1 + amp * np.sin(2 * np.pi * t / period)) + rng.normal(0, 0.01 * lv, n)
        time.append(t + 0.003)  # the bands a few minutes apart
        flux.append(f)
        err.append(np.full(n, 0.01 * lv))
        band.append(np.full(n, b))
    return LightCurve.from_arrays(name, np.concatenate(time), np.concatenate(flux),
                                  np.concatenate(err), np.concatenate(band),
                                  emit_warnings=False)


def test_names_follow_wavelength_order_and_colours_join_neighbours():
    assert band_order(["z", "g", "r", "u", "i", "w1"]) == ["u", "g", "r", "i", "z", "w1"]
    names = feature_names(["r", "g"])
    assert names[0] == "g.log_epochs" and names[len(BAND_FEATURES)] == "r.log_epochs"
    assert names[-1] == "colour.g-r" and len(names) == 2 * len(BAND_FEATURES) + 1


def test_period_amplitude_and_colour_are_recovered():
    rng = np.random.default_rng(0)
    c = survey_curve("s", period=0.57, amp=0.3, rng=rng)
    x = dict(zip(feature_names(["g", "r"]), object_features(c, ["g", "r"]), strict=True))
    assert 10 ** x["g.log_period"] == pytest.approx(0.57, rel=0.01)
    assert x["g.period_power"] > 0.8
    # 5-95 % range of a sinusoid of amplitude 0.3 around 1: ~0.6 of the level
    assert 10 ** x["g.log_frac_amplitude"] == pytest.approx(0.59, abs=0.06)
    assert x["colour.g-r"] == pytest.approx(-2.5 * np.log10(1.0 / 1.5), abs=0.05)  # medians
    assert x["g.log_chi2"] > 2  # far more variable than its 1 % errors


def test_a_missing_band_is_nan_and_standardizing_imputes_it():
    rng = np.random.default_rng(1)
    curves = [survey_curve(f"s{i}", 0.5 + 0.01 * i, 0.2, rng) for i in range(5)]
    curves.append(survey_curve("g-only", 0.6, 0.2, rng, bands=("g",), level=(1.0,)))
    x, names = feature_matrix(curves)
    assert names == feature_names(["g", "r"])
    r = names.index("r.log_frac_std")
    assert np.isnan(x[-1, r]) and np.isfinite(x[:-1, r]).all()
    z = robust_standardize(x)
    assert np.isfinite(z).all() and np.abs(z).max() <= 10


def test_our_lomb_scargle_matches_astropy():
    """The rotated-phasor periodogram gives astropy's power (standard normalisation) on an
    irregular, error-weighted series, and the same peak."""
    from astropy.timeseries import LombScargle

    from lcad.models.features import lomb_scargle_power

    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 3000, 150))
    e = rng.uniform(0.1, 0.5, t.size)
    v = 2 + np.sin(2 * np.pi * t / 0.57) + rng.normal(0, e)
    f = np.linspace(1 / 3000, 10, 5000)
    want = LombScargle(t, v, e).power(f, method="cython")
    got = lomb_scargle_power(t, v, e, f[0], f[1] - f[0], f.size, block=128)
    assert np.max(np.abs(got - want)) < 1e-4
    assert np.argmax(got) == np.argmax(want)
