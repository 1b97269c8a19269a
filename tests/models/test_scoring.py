import numpy as np
import pytest
from numpy.testing import assert_allclose

from lcad.models.scoring import (
    Calibration,
    EmpiricalDistribution,
    find_intervals,
    object_score,
    residuals,
    robust_z,
    scan_scores,
    scan_statistics,
    window_errors,
)


def test_window_errors_are_masked_means():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    r = np.array([[0.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    m = np.array([[True, True, False], [True, True, True]])
    res = residuals(x, r, m, np.ones_like(x), "mse")
    assert res.dtype == np.float32
    assert_allclose(res, [[1.0, 0.0, 0.0], [-1.0, -1.0, -1.0]])
    werr, per_band = window_errors(res, m.sum(axis=1, keepdims=True), np.array([True, False]))
    assert_allclose(werr, [0.5, np.nan])
    assert_allclose(per_band, [[0.5], [1.0]])  # per band, validity aside
    chi = residuals(x, r, m, np.full_like(x, 0.5), "chi2")
    assert_allclose(chi[0], [2.0, 0.0, 0.0])


def test_band_errors_and_object_score():
    res = np.array([[1.0, np.sqrt(3.0), 0.0, 0.0]], np.float32)  # band 1 has no data
    _, per_band = window_errors(res, np.array([[2, 0]]), np.array([True]))
    assert_allclose(per_band, [[2.0, np.nan]], rtol=1e-6)
    errs = np.array([1.0, 5.0, np.nan, 3.0])
    assert object_score(errs, "max") == 5.0
    assert object_score(errs, "topk", top_k=2) == 4.0
    assert np.isnan(object_score(np.array([np.nan])))


def test_p_values_are_empirical_and_monotone():
    dist = EmpiricalDistribution.fit(np.arange(1.0, 101.0))
    p = dist.p_values(np.array([0.0, 50.5, 100.0, 1000.0, np.nan]))
    assert_allclose(p[0], 1.0)
    assert_allclose(p[1], (1 + 50) / 101)
    assert p[2] <= 2 / 101
    assert 0 < p[3] < 1e-6  # the exponential tail goes below 1/n
    assert np.isnan(p[4])
    grid = np.linspace(0, 200, 500)
    assert (np.diff(dist.p_values(grid)) <= 1e-12).all()


def test_a_calibration_score_rounded_off_by_another_batch_keeps_its_p_value(rng):
    """A calibration object scored again in another batch or process comes back a few ulps
    off its stored score (BLAS blocks the distance products by the batch's rows): it still
    ties with itself, in the array and the one-score path; a real difference does not."""
    cal = rng.normal(size=73)
    dist = EmpiricalDistribution.fit(cal)
    for v in cal[:20]:
        off = np.array([np.nextafter(v, np.inf), v + 4e-15, v - 4e-15])
        exact = dist.p_values(np.array([v, v]))[0]
        assert_allclose(dist.p_values(off), exact, rtol=1e-12)  # the tail is continuous
        assert_allclose([dist.p_value(float(o)) for o in off], exact, rtol=1e-12)
    assert dist.p_value(float(cal[0]) + 1e-6) < dist.p_value(float(cal[0]))
    assert dist.tie == pytest.approx(1e-9 * max(abs(cal.min()), abs(cal.max()),
                                                cal.max() - cal.min()))


def test_one_score_gets_the_p_value_many_scores_get(rng):
    """The plain-Python path for a single score (object scores) equals the array path, on
    quantile ties, in the tail, far beyond it, and for non-finite scores."""
    dist = EmpiricalDistribution.fit(np.round(rng.exponential(size=5000), 2))  # ties
    s = np.concatenate([rng.exponential(size=300), dist.quantiles[::97], [dist.tail_start,
                        np.nextafter(dist.tail_start, np.inf), 40.0, 1e6, -3.0, np.nan,
                        np.inf, -np.inf]])
    many = dist.p_values(s)
    one = np.array([dist.p_values(np.array([v]))[0] for v in s])
    assert_allclose(one, many, rtol=1e-15, atol=0)
    assert np.isnan(one[-3:]).all()
    assert dist.p_values(np.array(2.5)).shape == ()


def test_calibration_threshold_hits_target_rate(rng):
    scores = rng.exponential(size=20000)
    cal = Calibration.fit(scores[:1000], scores, rng.exponential(size=50), 0.01, 20)
    fresh = rng.exponential(size=200000)
    assert abs(np.mean(fresh > cal.point_threshold) - 0.01) < 0.003
    assert cal.object is not None
    again = Calibration.from_dict(cal.to_dict())
    assert again == cal


def test_intervals_merge_runs_and_report_peaks():
    t = np.arange(10.0)
    s = np.array([0, 5, 6, 0, 0, 0, 0, 9, 0, 8], dtype=float)
    resid = np.array([0, -1, -3, 0, 0, 0, 0, 2, 0, 1], dtype=float)
    p = np.linspace(0.1, 0.01, 10)
    iv = find_intervals(t, s, p, resid, threshold=1.0, merge_gap=1)
    assert [(i.start, i.end, i.peak_time, i.sign, i.n_points) for i in iv] == [
        (1.0, 2.0, 2.0, "dimming", 2),
        (7.0, 9.0, 7.0, "brightening", 2),
    ]
    assert iv[1].peak_score == 9.0 and iv[1].p_value == p[7]
    assert find_intervals(t, np.zeros(10), p, resid, 1.0) == []


def _noise(n: int = 20_000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (1, n))


def test_scan_scale_one_is_the_two_sided_normal_p_value_of_each_point():
    from scipy.stats import norm

    r = _noise(5_000)
    s = scan_scores(r, [1])
    z = robust_z(r)[0]
    assert_allclose(s, -np.log10(2 * norm.sf(np.abs(z))), rtol=1e-9)
    # robust z: the scatter is the MAD-sigma, close to 1 for unit noise
    assert abs(np.std(z) - 1.0) < 0.05


def test_scan_finds_a_shallow_dip_that_no_single_point_reveals():
    r = _noise()
    r[0, 10_000:10_012] -= 1.5  # 1.5 sigma over 12 points
    s = scan_scores(r, [1, 4, 16])
    background = np.quantile(np.delete(s, np.arange(9_980, 10_032)), 0.999)
    assert s[10_002:10_010].min() > background
    assert scan_scores(r, [1])[10_000:10_012].max() < np.quantile(scan_scores(r, [1]), 0.9999)


def test_scan_finds_an_oscillation_whose_mean_is_zero():
    r = _noise()
    r[0, 5_000:5_024] += 2.0 * np.sin(2 * np.pi * np.arange(24) / 4)
    s = scan_scores(r, [1, 4, 16])
    background = np.quantile(np.delete(s, np.arange(4_980, 5_044)), 0.999)
    assert np.median(s[5_004:5_020]) > background


def test_one_huge_outlier_does_not_light_up_its_neighbours():
    r = _noise()
    r[0, 7_000] = 60.0
    s = scan_scores(r, [1, 4, 16])
    assert s[7_000] > 100  # the point itself: about 60 sigma
    neighbours = np.r_[6_990:7_000, 7_001:7_011]
    assert s[neighbours].max() < np.quantile(np.delete(s, np.arange(6_980, 7_021)), 0.9999)


def test_scan_skips_missing_cells_and_is_nan_where_there_is_no_data():
    r = _noise(400)
    r[0, 100:150] = np.nan
    s = scan_scores(r, [1, 4, 16])
    assert np.isnan(s[100:150]).all()
    assert np.isfinite(np.delete(s, np.arange(100, 150))).all()
    assert np.isnan(scan_scores(np.full((2, 10), np.nan), [1, 4])).all()
    # two bands: both contribute; a constant residual gives finite scores, not a crash
    two = np.vstack([_noise(300, 1)[0], _noise(300, 2)[0]])
    assert np.isfinite(scan_scores(two, [1, 8])).all()
    assert np.isfinite(scan_scores(np.zeros((1, 50)), [1, 8])).all()


def test_an_interval_reaches_out_to_where_the_residual_is_back_in_the_noise():
    from lcad.models.scoring import find_intervals

    rng = np.random.default_rng(0)
    n = 400
    resid = rng.normal(0, 1, n).clip(-0.9, 0.9)  # noise, never beyond 1 sigma
    resid[200:210] = -1.5  # the dip's flanks: below -1 sigma, not flagged
    resid[203:207] = -6.0  # its core
    resid[210] = 2.0  # the other sign: the dip ends here
    score = np.where(np.abs(resid) > 5, 10.0, 0.0)
    t = np.arange(n, dtype=float)
    core = find_intervals(t, score, np.full(n, 0.5), resid, threshold=5.0)
    whole = find_intervals(t, score, np.full(n, 0.5), resid, threshold=5.0, extend_z=1.0)
    assert [(iv.start, iv.end) for iv in core] == [(203.0, 206.0)]
    assert [(iv.start, iv.end, iv.n_points, iv.sign) for iv in whole] == \
        [(200.0, 209.0, 4, "dimming")]
    # a second core after noise stays apart; once its flank reaches the first, they merge
    resid[213:230] = 1.5
    resid[220:222] = 7.0
    score = np.where(np.abs(resid) > 5, 10.0, 0.0)
    two = find_intervals(t, score, np.full(n, 0.5), resid, threshold=5.0, extend_z=1.0)
    assert [(iv.start, iv.end, iv.sign) for iv in two] == [(200.0, 209.0, "dimming"),
                                                          (213.0, 229.0, "brightening")]
    resid[211:213] = 1.5
    one = find_intervals(t, score, np.full(n, 0.5), resid, threshold=5.0, extend_z=1.0)
    assert [(iv.start, iv.end, iv.n_points) for iv in one] == [(200.0, 229.0, 6)]
    assert find_intervals(t, np.zeros(n), np.ones(n), resid, 5.0, extend_z=1.0) == []


def test_scan_cover_flags_every_point_of_a_significant_run():
    r = _noise()
    r[0, 3_000:3_016] -= 1.5  # a 16-point dip, 1.5 sigma deep: significant as a run only
    centre, cover = scan_scores(r, [1, 4, 16]), scan_scores(r, [1, 4, 16], cover=True)
    background = np.quantile(np.delete(centre, np.arange(2_980, 3_036)), 0.999)
    assert (cover[3_000:3_016] > background).all()  # the whole dip
    assert (centre[3_000:3_016] > background).sum() < 16  # its middle only
    assert (cover >= centre - 1e-12).all()  # a point's own run is among those containing it
    # away from the dip, a point gets no more than the runs around it allow
    assert cover[3_040:].max() < cover[3_000:3_016].min()


def test_scan_flanks_weigh_a_long_event_twice_and_not_its_neighbours():
    """Inside an event longer than twice the largest scale both flanks of a point lie in it:
    against noise, the flanks are then more surprising than the centred run (the evidence of
    2k points); beside the event, or beside a huge outlier, a point has one flank in it at
    most, and its flanks are not surprising."""

    r = _noise()
    r[0, 5_000:5_120] += 0.8  # 0.8 sigma over 120 points: seen by runs only
    r[0, 12_000] = 60.0
    tables = [EmpiricalDistribution.fit(row)
              for row in scan_statistics(_noise(seed=1), [1, 4, 16], flanks=True)]
    stats = scan_statistics(r, [1, 4, 16], flanks=True)
    run16, flanks = (t.surprise(row) for t, row in zip(tables[2:], stats[2:], strict=True))
    inside = np.r_[5_016:5_104]
    assert np.median(flanks[inside]) > np.median(run16[inside]) + 1
    background = np.quantile(np.delete(flanks, np.r_[4_980:5_140, 11_980:12_021]), 0.999)
    beside = np.r_[4_990:4_998, 5_122:5_130, 11_990:12_000, 12_001:12_011]
    assert flanks[beside].max() < background
    assert (scan_scores(r, [1, 4, 16], flanks=True) >= scan_scores(r, [1, 4, 16]) - 1e-12).all()
    assert scan_statistics(r, [1, 4, 16]).shape == (3, r.shape[1])  # no flanks: as before
    assert np.isnan(scan_statistics(r[:, :10], [1, 16], flanks=True)[-1]).all()  # too short


def test_scan_oscillation_row_finds_a_short_oscillation_the_scatter_test_misses():
    """A 1.5 sigma sinusoid of period 6 over 24 points: as excess scatter its power is spread
    over every frequency and the 16-point run is barely surprising; the oscillation row's
    matched filter (the largest periodogram ordinate of the centred 24-point run) finds it
    well above the noise; a lone outlier does not light it up, and a dip (whose step has
    power at the run's lowest frequencies) is surprising to the offset test first."""
    rng = np.random.default_rng(7)
    r = rng.normal(size=(1, 20_000))
    t = np.arange(24)
    r[0, 5_000:5_024] += 1.5 * np.sin(2 * np.pi * t / 6.0 + 0.3)
    r[0, 9_000:9_012] -= 2.0  # a dip: an offset, not an oscillation
    r[0, 12_000] = 60.0
    null = rng.normal(size=(1, 20_000))
    tables = [EmpiricalDistribution.fit(row)
              for row in scan_statistics(null, [1, 4, 16], oscillations=24)]
    stats = scan_statistics(r, [1, 4, 16], oscillations=24)
    assert stats.shape == (4, r.shape[1])
    run16, osc = (t.surprise(row) for t, row in zip(tables[2:], stats[2:], strict=True))
    background = np.quantile(np.delete(osc, np.r_[4_980:5_045, 8_980:9_030, 11_980:12_021]),
                             0.999)
    assert osc[5_006:5_018].max() > background + 1.5
    assert osc[5_006:5_018].max() > run16[5_006:5_018].max() + 1
    assert run16[8_995:9_015].max() > osc[8_995:9_015].max() + 1
    assert osc[11_990:12_011].max() < background + 0.5  # z is clipped in runs
    # under white noise the analytic p-values are about right (the tables make them exact)
    assert 0.005 < np.mean(scan_statistics(null, [1], oscillations=24)[-1] > 2) < 0.015
    with_osc = scan_scores(r, [1, 4, 16], oscillations=24)
    assert (with_osc >= scan_scores(r, [1, 4, 16]) - 1e-12).all()
    # several bands with gaps: finite where data are; a series shorter than the run: NaN row
    two = rng.normal(size=(2, 500))
    two[0, 100:200] = np.nan
    two[:, 300:310] = np.nan
    row = scan_statistics(two, [1, 4], oscillations=24)[-1]
    assert np.isfinite(row[:300]).all() and np.isnan(row[300:310]).all()
    assert np.isnan(scan_statistics(r[:, :20], [1, 4], oscillations=24)[-1]).all()


def test_scan_oscillation_run_is_validated():
    import pytest

    from lcad.models.config import DetectorConfig
    from lcad.models.errors import ConfigError

    with pytest.raises(ConfigError, match="scan_oscillations is a run length"):
        DetectorConfig.from_dict({"scoring": {"scan_oscillations": 3}})
    assert DetectorConfig.from_dict({"scoring": {"scan_oscillations": 0}}).scoring \
        .scan_oscillations == 0


def test_scan_quiet_row_finds_a_held_value_that_no_test_of_excess_sees():
    """A value held for 40 points (a stuck sensor) close to the reconstruction: the offset
    and excess-scatter tests see nothing; the quiet row (too little
    scatter about the run's own mean, 24 points) finds it far above the noise, while an
    offset with the noise still on (a dip) does not light it up. Under white noise it is 0
    but where a run is as quiet as one in 10^4 (`QUIET_GATE`), and its analytic p-values
    are about right."""
    rng = np.random.default_rng(11)
    r = rng.normal(size=(1, 20_000))
    r[0, 5_000:5_040] = 0.2  # held
    r[0, 9_000:9_030] -= 2.0  # a dip: noise on an offset
    null = rng.normal(size=(1, 20_000))
    tables = [EmpiricalDistribution.fit(row)
              for row in scan_statistics(null, [1, 4, 16], quiet=24)]
    stats = scan_statistics(r, [1, 4, 16], quiet=24)
    assert stats.shape == (4, r.shape[1])
    calm = tables[-1].surprise(stats[-1])
    others = np.nanmax([t.surprise(row) for t, row in zip(tables[:-1], stats[:-1],
                                                          strict=True)], axis=0)
    away = np.r_[4_980:5_060, 8_980:9_050]
    background = np.quantile(np.delete(calm, away), 0.999)
    assert calm[5_012:5_028].min() > background + 2
    assert others[5_012:5_028].max() < np.quantile(np.delete(others, away), 0.999)
    assert calm[9_012:9_018].max() < background + 0.5  # the dip is not quiet
    assert np.mean(scan_statistics(null, [1], quiet=24)[-1] > 0) < 0.003
    from lcad.models.scoring import _quiet_surprise, _run_sums

    ones = np.ones(null.shape[1])
    ungated = _quiet_surprise(_run_sums(null[0], 24), _run_sums(null[0] ** 2, 24),
                              _run_sums(ones, 24))
    assert 0.005 < np.mean(ungated > 2) < 0.015
    # next to the oscillation row: each keeps its place (the quiet row last)
    both = scan_statistics(r, [1, 4, 16], oscillations=24, quiet=24)
    assert_allclose(both[-1], stats[-1])
    assert_allclose(both[-2], scan_statistics(r, [1, 4, 16], oscillations=24)[-1])
    # shorter than the run: NaN
    assert np.isnan(scan_statistics(r[:, :20], [1, 4], quiet=24)[-1]).all()


def test_scan_quiet_run_is_validated():
    import pytest

    from lcad.models.config import DetectorConfig
    from lcad.models.errors import ConfigError

    with pytest.raises(ConfigError, match="scan_quiet is a run length"):
        DetectorConfig.from_dict({"scoring": {"scan_quiet": 2}})


def test_segment_moves_too_large_for_the_segment_length_are_refused():
    """A segment of mean length 4 (scales up to 4) that moved a level at 2 times the rate it
    ends would leave its level more than once a point: refused with the largest it takes."""
    import pytest

    from lcad.models.config import DetectorConfig
    from lcad.models.errors import ConfigError

    with pytest.raises(ConfigError, match=r"segment_moves 2.0 is too large .* at most 1.5"):
        DetectorConfig.from_dict({"scoring": {"scales": [1, 4], "segment_moves": 2.0}})
    ok = DetectorConfig.from_dict({"scoring": {"scales": [1, 4], "segment_moves": 1.5}})
    assert ok.scoring.segment_moves == 1.5
    off = DetectorConfig.from_dict({"scoring": {"scales": [1], "scan_segments": False}})
    assert off.scoring.segment_moves == 0.5  # no segment row: nothing to refuse


def test_a_tail_bound_keeps_the_p_values_of_a_short_calibration_from_running_away(tmp_path):
    """3,000 points of white noise, scored by the detector trained on them. Its calibration
    part (450 points) holds no long excursion, so the segment row's table ends near 0 and an
    exponential tail fitted there made one 25-point excursion of the training part p = 1e-37
    (a user saw it: docs/quality-log.md, session 32). With `scan_tail_bound` (the default) a
    row's tail falls at most a decade per unit of its -log10 statistic: the smallest p-value
    is what 3,000 points of noise can give."""
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.lightcurve import LightCurve

    rng = np.random.default_rng(0)
    flux = rng.normal(size=3000)
    curve = LightCurve.from_arrays("noise", np.arange(3000) * 0.0204, flux)
    fitted = {}
    for bound in (True, False):
        cfg = DetectorConfig().with_overrides([f"scoring.scan_tail_bound={str(bound).lower()}",
                                               "scoring.point=scan"])
        det, _ = fit_detector([curve], cfg)
        fitted[bound] = det.score([curve]).curves[0].point_p_value
        if bound:
            assert min(t.tail_scale for t in det.point_scorer.tables) >= 1 / np.log(10)
    assert np.nanmin(fitted[True]) > 1e-6  # measured 2.6e-4
    assert np.nanmin(fitted[False]) < 1e-20  # measured 1.2e-36: the test can fail


def test_log10_p_values_keep_their_order_where_the_p_values_underflow():
    """A narrow calibration tail sends p-values of scores far past it to 0.0 (ties); their
    logarithms, computed as such, stay finite, ordered, and equal log10 p where p > 0."""
    from lcad.models.scoring import EmpiricalDistribution

    dist = EmpiricalDistribution.fit(np.random.default_rng(0).normal(0, 0.01, 4000))
    s = np.array([-1.0, 0.0, 0.02, 0.05, 5.0, 20.0, 40.0, np.nan])
    p, logp = dist.p_values(s), dist.log10_p_values(s)
    assert (p[4:7] == 0).all()  # underflow: p-values alone cannot rank these
    assert np.isfinite(logp[:7]).all() and np.all(np.diff(logp[:7]) < 0)
    assert_allclose(logp[:4], np.log10(p[:4]), rtol=1e-9)
    assert np.isnan(logp[7])


def test_run_variance_ratio_is_one_for_white_noise_and_large_for_a_slow_leftover():
    from lcad.models.scoring import run_variance_ratio

    white = _noise()
    assert abs(run_variance_ratio([white], 64) - 1.0) < 0.2
    slow = white + 0.6 * np.sin(2 * np.pi * np.arange(white.shape[1]) / 700.0)
    assert run_variance_ratio([slow], 64) > 5.0
    gappy = slow.copy()
    gappy[0, ::50] = np.nan  # every run of 64 holds a gap: none is counted
    assert run_variance_ratio([gappy], 64) is None
    assert run_variance_ratio([white[:, :300]], 64) is None  # too few runs to say


def test_a_running_baseline_keeps_a_short_dip_above_a_slow_leftover():
    """On residuals with a slow leftover (a rotation the network did not follow) a 12-point
    dip at the leftover's crest hides among the troughs' runs; tested against the running
    median it stands out, and the segment and quiet rows see the residuals as they are."""
    r = _noise()
    r += 1.0 * np.sin(2 * np.pi * np.arange(r.shape[1]) / 700.0)
    crest = 700 * 14 + 175
    r[0, crest:crest + 12] -= 2.0
    event = np.arange(crest - 20, crest + 32)
    rows = {b: scan_statistics(r, [1, 4, 16], segments=True, quiet=24, baseline=b)
            for b in (0, 64)}

    def standing(s):  # the dip's 16-point row against the rest's 0.999 quantile
        return s[2, crest + 2:crest + 10].min() - np.quantile(np.delete(s[2], event), 0.999)

    assert standing(rows[64]) > 0 > standing(rows[0])
    assert_allclose(rows[64][3:], rows[0][3:])  # segment and quiet rows unchanged


def test_increasing_fit_pools_adjacent_violators():
    from lcad.models.scoring import increasing_fit

    assert_allclose(increasing_fit(np.array([1.0, 3.0, 2.0, 4.0])), [1.0, 2.5, 2.5, 4.0])
    assert_allclose(increasing_fit(np.array([3.0, 2.0, 1.0])), [2.0, 2.0, 2.0])
    assert_allclose(increasing_fit(np.arange(5.0)), np.arange(5.0))


def test_a_scatter_curve_follows_the_residuals_and_is_flat_where_they_do_not_grow():
    """Residuals three times as wide where the reconstruction is steep give a scale of ~3
    there and 1 where it is flat; residuals that do not depend on the slope give ~1 at every
    slope; too few held-out points give none. The depth is the distance from the band's
    median level; both are over the errors when given."""
    from lcad.models.scoring import ScatterCurve, reconstruction_shape

    rng = np.random.default_rng(5)
    n = 40_000
    phase = np.arange(n) % 100
    recon = np.where(phase < 10, np.sin(np.pi * phase / 10) * 20.0, 0.0)[None, :]
    shape = reconstruction_shape(recon, None)
    slope = shape["slope"]
    steep = slope[0] > 2.0
    wide = rng.normal(size=(1, n)) * np.where(steep, 3.0, 1.0)
    curve = ScatterCurve.fit([wide], [slope], 20)
    assert curve is not None and 2.5 < curve.gain < 3.5
    assert np.all(np.diff(curve.scales) >= 0) and curve.scales[0] == 1.0
    at = curve(slope[0])
    assert np.median(at[steep]) > 2.5 and np.median(at[slope[0] < 0.01]) == 1.0
    flat = ScatterCurve.fit([rng.normal(size=(1, n))], [slope], 20)
    assert flat is not None and flat.gain < 1.15
    assert ScatterCurve.fit([wide[:, :150]], [slope[:, :150]], 20) is None
    assert_allclose(shape["depth"], np.abs(recon))  # the level is 0: 90 % of points
    errors = np.full((1, n), 2.0)
    halved = reconstruction_shape(recon, errors)
    assert_allclose(halved["slope"], slope / 2.0)
    assert_allclose(halved["depth"], shape["depth"] / 2.0)


def test_a_scatter_scale_divides_the_runs_and_segments_but_not_the_quiet_row():
    """`scan_statistics(scale=...)`: a dip where the scatter is expected three times as wide
    weighs a third as much in the runs; the quiet row sees the residuals as they are."""
    r = _noise()
    n = r.shape[1]
    scale = np.ones_like(r)
    scale[0, 5000:5400] = 3.0
    r[0, 5000:5400] *= 3.0  # the wide stretch the scale expects
    r[0, 5200:5212] -= 6.0  # a dip there: 2 sigma of the local scatter
    rows = {k: scan_statistics(r, [1, 4, 16], segments=True, quiet=24, scale=s)
            for k, s in (("scaled", scale), ("raw", None))}
    assert rows["scaled"][2, 5202:5210].max() < rows["raw"][2, 5202:5210].max()
    # away from the wide stretch the runs see the same noise (up to the robust z's scale)
    assert np.corrcoef(rows["scaled"][0, :4000], rows["raw"][0, :4000])[0, 1] > 0.99
    assert_allclose(rows["scaled"][-1], rows["raw"][-1])
    assert n > 5400


def test_a_flagged_run_narrows_to_its_core_before_it_reaches_out():
    """`core` (novelty's points every covering window finds novel) narrows each flagged run
    to its first and last core point; a run without one stays whole; the residual's
    extension then works from the narrowed span, and n_points counts the flagged points
    inside the interval (those that keep their flag)."""
    from lcad.models.scoring import find_intervals

    n = 200
    t = np.arange(n, dtype=float)
    score = np.zeros(n)
    score[40:110] = 3.0  # novelty spread a window either side of a short event
    score[150:170] = 3.0  # a run with no core
    core = np.zeros(n, bool)
    core[70:76] = True
    core[120] = True  # outside every run: ignored
    resid = np.zeros(n)
    resid[68:78] = -2.0  # the event's flanks in the residual
    p = np.full(n, 0.5)
    narrowed = find_intervals(t, score, p, resid, 1.0, core=core)
    assert [(iv.start, iv.end, iv.n_points) for iv in narrowed] == [(70.0, 75.0, 6),
                                                                   (150.0, 169.0, 20)]
    reached = find_intervals(t, score, p, resid, 1.0, extend_z=1.0, core=core)
    assert [(iv.start, iv.end, iv.n_points) for iv in reached] == [(68.0, 77.0, 10),
                                                                  (150.0, 169.0, 20)]
    assert [(iv.start, iv.end) for iv in find_intervals(t, score, p, resid, 1.0)] == \
        [(40.0, 109.0), (150.0, 169.0)]
    # no core point anywhere: the runs as flagged
    assert find_intervals(t, score, p, resid, 1.0, core=np.zeros(n, bool)) == \
        find_intervals(t, score, p, resid, 1.0)
