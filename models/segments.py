"""The posterior probability that a grid point lies in an anomalous segment of the residuals.

A hidden Markov model on the residuals' z-scores (models/scoring.py `robust_z`): a normal
state (white noise, z ~ N(0, 1)) and anomalous states it enters at a small rate and leaves
after `length` points on average. Each anomalous state is an offset of the mean (half a sigma
doubling up to the scan's clip, either sign: dips, flares, plateaus, ramps) or a larger
scatter (sd sqrt(2) doubling to 2 sqrt(2): oscillations, bursts of noise). The offsets of one
sign, and the scatters, are each a ladder: a segment may move to the next rung up or down as
often as it ends (`LEVEL_MOVE`), so an event whose level changes (a ramp, a bump's rise and
fall, a decay) is followed as a staircase instead of being cut into separate segments with
the noise between them. The forward-backward
posterior of the normal state at a point weighs every segmentation of the series that could
explain it: inside an event the evidence of the whole event counts, at the event's weak ends
as far as the residual has not returned to the noise, beside it only as far as the
segment's length makes an overrun likely. It is Bayesian segmentation with geometric segment
lengths, not a test of runs of a fixed length.

The recursions are linear in the unnormalised messages, so a long series is cut into chunks
whose transfer matrices are multiplied in one pass over all chunks at once; the exact message
at every chunk's start then follows from these few products (exact, not a warm-up
approximation).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

SEGMENT_RATE = 1e-3  # prior rate per grid point of entering an anomalous segment
SCATTERS = (math.sqrt(2.0), 2.0, 2.0 * math.sqrt(2.0))
# the rate of moving to each neighbouring rung of a ladder, in units of the rate of ending: at
# 0.5 a segment with two neighbours changes level as often as it ends (docs/quality-log.md,
# session 31)
LEVEL_MOVE = 0.5


def offsets(clip: float) -> list[float]:
    """Half a sigma doubling up to the clip (0.5, 1, 2, 4 at the scan's 4)."""
    out, a = [], 0.5
    while a <= clip + 1e-9:
        out.append(a)
        a *= 2.0
    return out


def log_emission_ratios(z: np.ndarray, clip: float) -> np.ndarray:
    """(n_bands, n_grid) z (NaN: no data) -> (n_states - 1, n_grid) log likelihood of each
    anomalous state over the normal one, summed over the bands with data (0 where none)."""
    ok = np.isfinite(z)
    zc = np.clip(np.where(ok, z, 0.0), -clip, clip)  # 0 where no data: adds nothing
    n_ok = ok.sum(axis=0)
    zsum = zc.sum(axis=0)
    z2sum = np.square(zc).sum(axis=0)
    rows = []
    for a in offsets(clip):
        for mu in (a, -a):
            rows.append(mu * zsum - 0.5 * mu * mu * n_ok)
    for s in SCATTERS:
        rows.append(-math.log(s) * n_ok + 0.5 * (1.0 - 1.0 / (s * s)) * z2sum)
    return np.asarray(rows)


def ladders(clip: float) -> list[list[int]]:
    """The anomalous states (numbered from 1, in `log_emission_ratios`' order) as ladders of
    levels: the positive offsets, the negative offsets, the scatters, each rung by rung."""
    k = len(offsets(clip))
    return [[1 + 2 * i for i in range(k)], [2 + 2 * i for i in range(k)],
            [1 + 2 * k + i for i in range(len(SCATTERS))]]


def transition_matrix(rungs: int | list[list[int]], length: float, rate: float = SEGMENT_RATE,
                      move: float = LEVEL_MOVE) -> np.ndarray:
    """Normal (state 0) enters each of the K anomalous states at rate / K; an anomalous state
    returns to normal with 1 / length, moves to each neighbouring rung of its ladder with
    move / length, and stays otherwise. `rungs`: the ladders (`ladders`), or K states that
    are each a ladder of one (no moves)."""
    lads = [[s] for s in range(1, rungs + 1)] if isinstance(rungs, int) else rungs
    n = 1 + sum(len(lad) for lad in lads)
    a = np.zeros((n, n))
    a[0, 0] = 1.0 - rate
    a[0, 1:] = rate / (n - 1)
    for lad in lads:
        for i, s in enumerate(lad):
            a[s, 0] = 1.0 / length
            for j in (i - 1, i + 1):
                if 0 <= j < len(lad):
                    a[s, lad[j]] = move / length
            a[s, s] = 1.0 - a[s].sum()
    return a


def chain(emission: np.ndarray, trans: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Messages m_t = (m_{t-1} @ trans) * emission[t], m_{-1} = start, each normalised to sum
    1: (n, S) from (n, S) emissions. Exact, with O(sqrt n) Python steps: the series is cut
    into chunks, each chunk's transfer matrix is built for all chunks at once, the message
    entering each chunk follows from those, then every chunk is run from its own start."""
    n, s = emission.shape
    m = max(1, math.isqrt(max(n // 2, 1)))
    c = -(-n // m)
    e = np.ones((c * m, s))
    e[:n] = emission
    e = e.reshape(c, m, s)
    prod = np.broadcast_to(np.eye(s), (c, s, s)).copy()
    for j in range(m):  # each chunk's transfer matrix (scaled: only proportions count)
        prod = (prod @ trans) * e[:, j, None, :]
        prod /= prod.max(axis=(1, 2), keepdims=True)
    starts = np.empty((c, s))
    v = start / start.sum()
    for k in range(c):
        starts[k] = v
        v = v @ prod[k]
        v /= v.sum()
    out = np.empty((c, m, s))
    v = starts
    for j in range(m):
        v = (v @ trans) * e[:, j]
        v /= v.sum(axis=1, keepdims=True)
        out[:, j] = v
    return out.reshape(c * m, s)[:n]


def posterior(emission: np.ndarray, trans: np.ndarray, start: np.ndarray) -> np.ndarray:
    """(n, S) posterior probability of each state at each step given all n emissions
    (forward-backward; `start` the distribution before the first step)."""
    alpha = chain(emission, trans, start)
    # the backward messages weighted by the emission, g_t = e_t * beta_t, run forward in
    # reversed time with the transposed matrix; g_n = 1 makes beta_{n-1} = 1
    g = chain(emission[::-1], trans.T, np.ones(trans.shape[0]))[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):  # both messages ~0: NaN, no score
        post = alpha * g / emission
        return post / post.sum(axis=1, keepdims=True)


def normal_posterior(z: np.ndarray, clip: float, length: float,
                     rate: float = SEGMENT_RATE, move: float = LEVEL_MOVE) -> np.ndarray:
    """(n_bands, n_grid) z-scores -> (n_grid,) posterior probability that each point is in
    the normal state, given the whole series."""
    lr = log_emission_ratios(z, clip)
    k, n = lr.shape
    emission = np.ones((n, k + 1))
    emission[:, 1:] = np.exp(np.clip(lr.T, -50.0, 50.0))
    start = np.zeros(k + 1)
    start[0] = 1.0
    return posterior(emission, transition_matrix(ladders(clip), length, rate, move),
                     start)[:, 0]


def segment_statistic(z: np.ndarray, clip: float, length: float, move: float = LEVEL_MOVE
                      ) -> np.ndarray:
    """-log10 of the posterior probability that each point is normal; NaN without data.

    Offsets are measured from each band's median z: a reconstruction that is off by a
    constant over the whole series is a misfit of the series, not a segment of it (the
    model would otherwise put every point of it in one long segment)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band without data: all NaN
        level = np.nanmedian(z, axis=1, keepdims=True)
    p0 = normal_posterior(z - np.nan_to_num(level), clip, length, move=move)
    out = -np.log10(np.maximum(p0, 1e-300))
    return np.where(np.isfinite(z).any(axis=0), out, np.nan)
