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


def test_visits_at_one_time_of_night_give_a_power_between_0_and_1():
    """A supernova's alert history with every visit of a band at the same time of night:
    at 1, 2, ... 10 cycles a day all its phases are one, the generalised Lomb-Scargle fit
    is degenerate there, and single-precision rounding once made the power 1e3 or inf
    (then the period of 0.1 day won and the feature was imputed away)."""
    rng = np.random.default_rng(7)
    curves = []
    for i in range(30):
        nights = np.arange(-rng.uniform(5, 20) // 1, rng.uniform(60, 140))
        times, mags, bands = [], [], []
        for b, fall in (("g", rng.uniform(15, 30)), ("r", rng.uniform(25, 45))):
            t = nights[rng.random(nights.size) < 0.45] + rng.uniform(0.1, 0.3)
            bump = np.exp(-t / fall) / (1 + np.exp(-t / 3.0))
            times.append(t)
            mags.append(18.5 - 2.5 * np.log10(np.maximum(bump / bump.max(), 1e-6)))
            bands.append(np.full(t.size, b))
        t, m = np.concatenate(times), np.concatenate(mags)
        err = np.sqrt(0.02 ** 2 + (0.1 * 10 ** (0.4 * (m - 20.0))) ** 2)
        keep = m < 20.8
        curves.append(LightCurve.from_arrays(
            f"sn{i}", t[keep], m[keep] + err[keep] * rng.normal(size=keep.sum()), err[keep],
            np.concatenate(bands)[keep], unit="mag", emit_warnings=False))
    x, names = feature_matrix(curves, ["g", "r"])
    power = x[:, [names.index("g.period_power"), names.index("r.period_power")]]
    assert np.isfinite(power).all()
    assert (power >= 0).all() and (power <= 1).all()


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


def direct_band_features(t, v, e):
    """One band's BAND_FEATURES but the period the plain way (numpy per statistic): what the
    batched, padded computation must give."""
    from lcad.models.features import MIN_EPOCHS

    out = np.full(len(BAND_FEATURES), np.nan)
    if v.size < MIN_EPOCHS:
        return out
    med, sd = np.median(v), np.std(v)
    level = abs(med) or 1.0
    lo, hi = np.percentile(v, [5, 95])
    z = (v - v.mean()) / sd
    out[:8] = [np.log10(v.size), np.log10(1.4826 * np.median(np.abs(v - med)) / level),
               np.log10((hi - lo) / level), np.mean(z ** 3), np.mean(z ** 4) - 3,
               np.log10(np.mean(np.diff(v) ** 2) / sd ** 2), np.mean(np.abs(z) > 1),
               np.log10(np.mean(((v - med) / e) ** 2)) if e is not None else np.nan]
    return out


def classical_power(t, v, e, f):
    """The classical periodogram 2 |sum w y e^{2 pi i f t}|^2 / sum w y^2 (w = 1/e^2
    normalised, y about the weighted mean), the plain way."""
    w = 1 / e ** 2
    w = w / w.sum()
    y = v - np.sum(w * v)
    s = np.exp(2j * np.pi * np.outer(f, t)) @ (w * y)
    return 2 * np.abs(s) ** 2 / np.sum(w * y * y)


def direct_shared_period(bands, search="peaks"):
    """[(t, v, e)] of one object's bands -> [(log10 period, power)] per band, the plain way:
    each band's coarse power (the classical periodogram for "peaks", the generalised one
    for "zoom") on the grid of the object's longest span, added with weights chi^2 about
    the band's weighted mean; the CANDIDATES[search] highest local maxima of the sum each
    searched again with the generalised power from one coarse step below to one above,
    REFINE_STEPS points a step; the highest point of the summed zoomed powers is the
    object's period, each band keeps its own power there. Bands under MIN_EPOCHS or
    spanning <= 2 MIN_PERIOD take no part."""
    from lcad.models.features import (
        CANDIDATES,
        MIN_EPOCHS,
        REFINE_STEPS,
        frequency_grid,
        lomb_scargle_power,
    )

    out = [(np.nan, np.nan)] * len(bands)
    part = [i for i, (t, v, _) in enumerate(bands) if v.size >= MIN_EPOCHS and t[-1] - t[0] > 0.2]
    if not part:
        return out
    span = max(bands[i][0][-1] - bands[i][0][0] for i in part)
    f0, df, n = (a[0] for a in frequency_grid(np.array([span])))
    weight = {}
    for i in part:
        _, v, e = bands[i]
        w = 1 / e ** 2
        weight[i] = np.sum(w * (v - np.sum(w * v) / np.sum(w)) ** 2)
    if search == "peaks":
        f = f0 + np.arange(n) * df
        total = sum(weight[i] * classical_power(*bands[i], f) for i in part)
    else:
        total = sum(weight[i] * lomb_scargle_power(*bands[i], f0, df, n) for i in part)
    peaks = [k for k in range(n)
             if (k == 0 or total[k] >= total[k - 1]) and (k == n - 1 or total[k] > total[k + 1])]
    best = (-np.inf, np.nan, None)
    for k in sorted(peaks, key=lambda k: -total[k])[:CANDIDATES[search]]:
        start = f0 + max(k - 1, 0) * df
        fine = {i: lomb_scargle_power(*bands[i], start, df / REFINE_STEPS, 2 * REFINE_STEPS + 1)
                for i in part}
        summed = sum(weight[i] * fine[i] for i in part)
        j = int(np.argmax(summed))
        if summed[j] > best[0]:
            best = (summed[j], start + j * df / REFINE_STEPS, {i: fine[i][j] for i in part})
    for i in part:
        out[i] = (np.log10(1 / best[1]), best[2][i])
    return out


@pytest.mark.parametrize("search", ["peaks", "zoom"])
def test_batched_features_equal_the_direct_computation_band_by_band(search):
    """Objects of very different sizes in one batch (3 to 300 epochs a band, spans of days to
    years, with and without errors, a band missing) get the features each band gives alone,
    and the period their bands give together (the default search and session 19's)."""
    rng = np.random.default_rng(7)
    curves = []
    for i, (n_g, n_r, span) in enumerate([(50, 50, 1000), (3, 40, 300), (300, 12, 30),
                                          (7, 0, 5), (60, 61, 2500), (20, 25, 0.15)]):
        parts = [(b, np.sort(rng.uniform(0, span, n))) for b, n in (("g", n_g), ("r", n_r)) if n]
        t = np.concatenate([tb for _, tb in parts])
        band = np.concatenate([np.full(tb.size, b) for b, tb in parts])
        flux = 1 + 0.2 * np.sin(2 * np.pi * t / rng.uniform(0.3, 5)) + rng.normal(0, 0.02, t.size)
        err = None if i % 2 else np.full(t.size, 0.02)
        curves.append(LightCurve.from_arrays(f"o{i}", t, flux, err, band, emit_warnings=False))
    got, names = feature_matrix(curves, ["g", "r"], search=search)
    for c, row in zip(curves, got, strict=True):
        want, bands = [], []
        for b in ("g", "r"):
            sel = c.band == b
            e = None if c.flux_err is None else c.flux_err[sel]
            want.append(direct_band_features(c.time[sel], c.flux[sel], e))
            bands.append((c.time[sel], c.flux[sel], np.ones(sel.sum()) if e is None else e))
        for w, per in zip(want, direct_shared_period(bands, search), strict=True):
            w[8:] = per
        g_med, r_med = (np.median(c.flux[c.band == b]) if (c.band == b).sum() >= 5 else np.nan
                        for b in ("g", "r"))
        want = np.concatenate([*want, [-2.5 * np.log10(g_med / r_med)]])
        power = np.array(["period_power" in n for n in names])  # single-precision sums
        np.testing.assert_allclose(row[~power], want[~power], rtol=1e-9, atol=1e-12,
                                   err_msg=c.object_id)
        np.testing.assert_allclose(row[power], want[power], atol=1e-5, err_msg=c.object_id)
    assert np.isnan(got[3, names.index("r.log_epochs")])  # no r band: NaN
    assert np.isnan(got[5, names.index("g.log_period")])  # span under two minimum periods


def test_periods_of_sdss_rr_lyrae_match_the_catalogue():
    """The period search finds the catalogued period of real SDSS Stripe 82 RR Lyrae (8-year
    spans, ~55 epochs in each of 5 bands). On all 241 stars: the coarse grid alone (20,000
    frequencies, fewer than one a peak width over such spans) found it in ~40 % of bands;
    zooming in on its highest peaks, in ~63 % (what an exhaustive search at 5 frequencies a
    peak width finds); the bands' powers added, in ~66 % of stars, and the one-day alias of
    nightly sampling (|f - f_true| = 1 / day) in most of the rest (96 % one or the other)."""
    import pandas as pd

    from lcad.models.features import band_order, band_rows, best_periods
    from lcad.models.io import read_curves
    from tests.conftest import shared_data

    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))
    per = pd.read_csv(shared_data("rrlyrae", "periods.csv")).set_index("Num")["Per"]
    truth = np.array([per[int(c.object_id)] for c in curves])
    order = band_order(sorted({b for c in curves for b in c.bands}))
    rows = band_rows(curves, order)
    period, power = best_periods(rows.t, rows.v, rows.e, rows.n)
    found = np.abs(period.reshape(len(curves), len(order)) / truth[:, None] - 1) < 0.01
    assert found.mean() > 0.58
    assert np.all((power > 0) & (power <= 1))
    shared, power = best_periods(rows.t, rows.v, rows.e, rows.n,
                                 np.arange(rows.n.size) // len(order))
    shared = shared.reshape(len(curves), len(order))
    assert np.all(shared == shared[:, :1])  # one period an object
    right = np.abs(shared[:, 0] / truth - 1) < 0.01
    alias = np.abs(np.abs(1 / shared[:, 0] - 1 / truth) - 1) < 0.01
    assert right.mean() > 0.62
    assert (right | alias).mean() > 0.92
    assert np.all((power > 0) & (power <= 1))


def test_an_object_model_keeps_the_period_search_it_was_fitted_with(tmp_path):
    """A bundle's object model was fitted on features of its period search: a new one saves
    and reloads the default ("peaks"); one saved in session 19 keeps the zoomed search of
    then, one saved without `period_search` (before session 19) the grid search."""
    from lcad.models.config import ObjectConfig
    from lcad.models.objects import ObjectModel

    rng = np.random.default_rng(3)
    curves = []
    for i in range(40):
        t = np.sort(rng.uniform(0, 400, 60))
        band = np.where(np.arange(60) % 2, "g", "r")
        flux = 1 + 0.3 * np.sin(2 * np.pi * t / rng.uniform(0.3, 3)) + rng.normal(0, 0.02, 60)
        curves.append(LightCurve.from_arrays(f"o{i}", t, flux, np.full(60, 0.02), band,
                                             emit_warnings=False))
    model, _ = ObjectModel.fit(curves[:30], curves[30:], ["g", "r"], ObjectConfig(epochs=2),
                               seed=0)
    assert model.period_search == "peaks"
    state = model.save(tmp_path)
    again = ObjectModel.load(tmp_path, state, ObjectConfig())
    assert again.period_search == "peaks"
    np.testing.assert_array_equal(again.feature_rows(curves[:5]),
                                  feature_matrix(curves[:5], ["g", "r"])[0])
    state["period_search"] = "zoom"
    zoom = ObjectModel.load(tmp_path, state, ObjectConfig())
    np.testing.assert_array_equal(zoom.feature_rows(curves[:5]),
                                  feature_matrix(curves[:5], ["g", "r"], search="zoom")[0])
    state.pop("period_search")
    old = ObjectModel.load(tmp_path, state, ObjectConfig())
    assert old.period_search == "grid"
    np.testing.assert_array_equal(old.feature_rows(curves[:5]),
                                  feature_matrix(curves[:5], ["g", "r"], search="grid")[0])
    with pytest.raises(ValueError, match="period search 'fast'"):
        feature_matrix(curves[:2], ["g", "r"], search="fast")


def test_an_object_model_fitted_on_feature_rows_is_the_one_fitted_on_curves():
    """`ObjectModel.fit_features` (what bench.object_variants fits its variants with) gives
    the model `ObjectModel.fit` gives from the curves: the same scores and embeddings."""
    from lcad.models.config import ObjectConfig
    from lcad.models.objects import ObjectModel

    rng = np.random.default_rng(5)
    curves = []
    for i in range(30):
        t = np.sort(rng.uniform(0, 300, 40))
        band = np.where(np.arange(40) % 2, "g", "r")
        flux = 1 + rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * t / rng.uniform(0.3, 3)) \
            + rng.normal(0, 0.02, 40)
        curves.append(LightCurve.from_arrays(f"o{i}", t, flux, np.full(40, 0.02), band,
                                             emit_warnings=False))
    cfg = ObjectConfig(epochs=3)
    from_curves, metrics = ObjectModel.fit(curves[:22], curves[22:], ["g", "r"], cfg, seed=1)
    raw = feature_matrix(curves, ["g", "r"])[0]
    from_rows, again = ObjectModel.fit_features(raw[:22], raw[22:], ["g", "r"], cfg, seed=1)
    assert metrics == again
    a, b = from_curves.assess(raw), from_rows.assess(raw)
    np.testing.assert_allclose(a.score, b.score)
    np.testing.assert_allclose(a.embedding, b.embedding)
    # no validation rows: the first tenth of the training rows stop the training
    alone, m = ObjectModel.fit_features(raw[:22], None, ["g", "r"], cfg, seed=1)
    assert m["objects.n_train"] == 22 and np.isfinite(alone.assess(raw).score).all()
