"""The segment row of the scan: the posterior of an anomalous segment (models/segments.py)."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lcad.models.scoring import EmpiricalDistribution, scan_scores, scan_statistics
from lcad.models.segments import (
    chain,
    ladders,
    posterior,
    segment_statistic,
    transition_matrix,
)


def _noise(n=20_000, seed=0):
    return np.random.default_rng(seed).normal(size=(1, n))


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000])
def test_chunked_messages_equal_the_plain_recursion(n):
    rng = np.random.default_rng(n)
    trans = transition_matrix(4, 6.0, 0.05)
    emission = np.exp(rng.normal(scale=2.0, size=(n, 5)))
    start = rng.uniform(size=5)
    want, v = [], start / start.sum()
    for t in range(n):
        v = (v @ trans) * emission[t]
        v = v / v.sum()
        want.append(v)
    assert_allclose(chain(emission, trans, start), want, rtol=1e-10, atol=1e-300)


def test_posterior_is_the_sum_over_every_path():
    """On a short series, the forward-backward posterior equals the brute-force sum over all
    state paths of their probabilities."""
    rng = np.random.default_rng(3)
    n, s = 6, 3
    trans = transition_matrix(s - 1, 3.0, 0.2)
    emission = np.exp(rng.normal(size=(n, s)))
    start = np.array([1.0, 0.0, 0.0])
    want = np.zeros((n, s))
    for path in itertools.product(range(s), repeat=n):
        p, prev = 1.0, start
        for t, state in enumerate(path):
            p *= (prev @ trans)[state] * emission[t, state]
            prev = np.eye(s)[state]
        want[np.arange(n), path] += p
    assert_allclose(posterior(emission, trans, start), want / want.sum(axis=1, keepdims=True))


def test_segments_weigh_a_whole_weak_event_out_to_its_ends_and_not_beside_it():
    """A microlensing-like bump, 1.5 sigma at its peak over 150 points: the segment row finds
    its weak wings (where the centred 16-point run does not) without lighting the points
    beside it or the neighbours of a 60-sigma outlier above the noise's 1 in 1000."""
    r = _noise()
    u = np.linspace(-3, 3, 150)
    r[0, 5_000:5_150] += 1.5 / np.sqrt(1 + 4 * u**2)  # 1.5 at the peak, 0.24 at the ends
    r[0, 12_000] = 60.0
    tables = [EmpiricalDistribution.fit(row) for row in
              scan_statistics(_noise(seed=1), [1, 4, 16], flanks=True, segments=True)]
    stats = scan_statistics(r, [1, 4, 16], flanks=True, segments=True)
    assert stats.shape == (5, r.shape[1])
    run16, segs = (tables[i].surprise(stats[i]) for i in (2, 4))
    background = np.quantile(tables[4].surprise(scan_statistics(
        _noise(seed=2), [1, 4, 16], flanks=True, segments=True)[4]), 0.999)
    wings = np.r_[5_020:5_045, 5_105:5_130]  # 0.3-0.6 sigma: a fraction of the noise
    assert np.median(segs[wings]) > background > np.median(run16[wings])
    beside = np.r_[4_960:4_990, 5_160:5_190, 11_990:11_998, 12_003:12_011]
    assert segs[beside].max() < background
    # the row adds to the maximum: no point scores less with it, and the single outlier,
    # one point that no segment explains, stays the top point through the 1-point run
    with_segments = scan_scores(r, [1, 4, 16], flanks=True, segments=True)
    assert (with_segments >= scan_scores(r, [1, 4, 16], flanks=True) - 1e-12).all()
    assert np.argmax(with_segments) == 12_000


def test_segment_statistic_over_bands_with_gaps():
    """Several bands, each with gaps: NaN only where no band has data, finite elsewhere,
    and an offset seen in both bands at once weighs more than in one."""
    z = _noise(4_000).repeat(2, axis=0)
    z[1] = np.random.default_rng(9).normal(size=4_000)
    z[0, 100:200] = np.nan
    z[:, 300:320] = np.nan
    z[:, 1_000:1_040] += 1.0
    z[0, 2_000:2_040] += 1.0
    s = segment_statistic(z, 4.0, 16.0)
    assert np.isnan(s[300:320]).all() and np.isfinite(np.delete(s, np.r_[300:320])).all()
    assert np.median(s[1_005:1_035]) > np.median(s[2_005:2_035])
    assert segment_statistic(np.full((1, 5), np.nan), 4.0, 16.0).shape == (5,)


def test_a_constant_offset_of_the_whole_series_is_not_a_segment():
    """A reconstruction off by 0.4 sigma everywhere (a misfit of the series) leaves the
    segment row as it leaves a series without the offset; an event on top is still found."""
    r = _noise(4_000)
    r[0, 2_000:2_060] += 1.0
    plain = segment_statistic(r, 4.0, 16.0)
    shifted = segment_statistic(r + 0.4, 4.0, 16.0)
    assert_allclose(np.quantile(shifted, [0.5, 0.9]), np.quantile(plain, [0.5, 0.9]),
                    atol=0.05)
    assert np.median(shifted[2_010:2_050]) > np.quantile(shifted, 0.99)


def test_a_segment_moves_only_to_the_neighbouring_levels_of_its_ladder():
    """Rows are probabilities; from a rung a segment ends at 1 / length, moves to each
    neighbouring rung of its own ladder at move / length and nowhere else; K separate
    states (an int) keep one level."""
    lads = ladders(4.0)  # offsets 0.5, 1, 2, 4 of each sign, 3 scatters
    assert lads == [[1, 3, 5, 7], [2, 4, 6, 8], [9, 10, 11]]
    a = transition_matrix(lads, 16.0, 1e-3, 0.5)
    assert_allclose(a.sum(axis=1), 1.0)
    assert_allclose(a[0, 1:], 1e-3 / 11)
    assert_allclose(a[1:, 0], 1 / 16)
    assert_allclose(a[3, [1, 5]], 0.5 / 16)  # +1 sigma: to +0.5 and +2 sigma
    assert_allclose(a[3, 3], 1 - 2 / 16)
    assert_allclose(np.delete(a[3], [0, 1, 3, 5]), 0.0)  # never to the other sign or a scatter
    assert_allclose(a[7, 5], 0.5 / 16) and a[7, 7] == pytest.approx(1 - 1.5 / 16)  # top rung
    plain = transition_matrix(11, 16.0, 1e-3)
    assert_allclose(transition_matrix(lads, 16.0, 1e-3, 0.0), plain)
    assert_allclose(np.diag(plain)[1:], 1 - 1 / 16)


def test_a_segment_that_changes_level_follows_a_ramp_without_holes():
    """98 ramps from 0 to 1.5 sigma over 150 points in noise: segments that may step a level
    up follow each ramp further back to its start, and leave far fewer holes in its stronger
    part (where segments of one level end and restart with the noise between them); the
    points just before a ramp stay at the noise's rate either way."""
    r = _noise(100_000, seed=7)
    starts = np.arange(1_000, 99_000, 1_000)
    for a in starts:
        r[0, a: a + 150] += np.linspace(0.0, 1.5, 150)
    found, holes, beside = {}, {}, {}
    for move in (0.0, 0.5):
        table = EmpiricalDistribution.fit(segment_statistic(_noise(seed=1), 4.0, 16.0, move))
        background = np.quantile(table.surprise(segment_statistic(
            _noise(seed=2), 4.0, 16.0, move)), 0.999)
        above = table.surprise(segment_statistic(r, 4.0, 16.0, move)) > background
        ramps = np.stack([above[a: a + 150] for a in starts])
        found[move], holes[move] = ramps.mean(), 1.0 - ramps[:, 50:].mean()
        beside[move] = np.mean([above[a - 40: a - 10].mean() for a in starts])
    # measured: found 0.614 -> 0.695, holes 0.110 -> 0.046, beside 0.000 both
    assert found[0.5] > found[0.0] + 0.05
    assert holes[0.5] < 0.6 * holes[0.0]
    assert max(beside.values()) < 0.01
