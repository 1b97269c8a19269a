"""Detection quality: lcad against classical baselines on the very same windows and splits.

Suites (real data from ../shared/data):
  kepler  injection-recovery: train on the first 40% of each star, inject seeded dips,
          flares and short oscillations into the rest, score it.
  kepler-long  the same stars with long events (session 28): plateaus, microlensing-like
          bumps, ramps (24-192 points) and bursts of noise; `kepler-var`, `kepler-var-long`:
          the stars made spotted rotators first (periods of 1-4 days; `kepler-var-slow`:
          the kepler-var events on rotations of 5-20 days, session 41); `-other` and
          `-regime`: kinds no earlier suite held (session 38) and changes that hold
          (session 40); `kepler-eb`, `kepler-puls`: the kepler events on detached
          eclipsing binaries and RR Lyrae-like pulsators (session 43).
  nab     NAB artificialWithAnomaly + realKnownCause: one model per series, trained on the
          probationary first 15%, scored on the rest against the labelled windows.
  discord one distorted cycle in a long quasi-periodic series (ECG-like and respiration-
          like, period ~137 points wandering by 3%): three distortions each (first lobe
          missing, cycle squeezed, amplitude x0.6), UCR-anomaly-archive style: train on the
          first 4000 points, is the top-scored point within a window of the distorted cycle?

Methods: lcad (the config given, default: the shipped defaults), Isolation Forest on the
windows, PCA reconstruction, a keras.io-style dense autoencoder (z-score, MSE, no masking, no
calibration) and the matrix profile (stumpy AB-join of each test series against its own
training part). Metrics: point PR-AUC and ROC-AUC per series (mean over series, and pooled),
event recall at a 1% point false-alarm rate (pooled threshold).

    python -m bench.quality --suite all                 # defaults vs baselines
    python -m bench.quality --suite kepler --set scoring.point=window --no-baselines
    python -m bench.quality export --out quality-data   # Kepler files for `lcad sweep`
    python -m bench.quality export --suite nab --out nab-data   # any suite: --suite S
    python -m bench.quality --suite nab --every 4       # NAB at a quarter of its points
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd

from bench.common import machine, table
from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector, Prepared
from lcad.models.lightcurve import LightCurve
from lcad.models.windows import coverage_max, coverage_mean
from lcad.training.evaluate import (
    event_recall,
    located_hits,
    ranking_metrics,
    true_runs,
    vus_pr,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LCAD_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
FAR = 0.01
KINDS = ("dip", "flare", "oscillation")
LONG_KINDS = ("plateau", "bump", "ramp", "noise")
# kinds no earlier suite held (session 38): one- or two-point glitches (5-10 sigma), a train
# of three box-shaped transits (1-2 sigma, 5-9 points each), a value held (a stuck sensor,
# 24-96 points), a slow wave (periods of 12-30 points, 1-2 sigma), microflares (2-3 sigma)
OTHER_KINDS = ("glitch", "transits", "flatline", "wave", "microflare")
# regimes (session 40): changes that hold for 256-1024 points, longer than any window, then
# end: the level moves (1-2 sigma), the noise grows (1.5-2.5x), the flux drifts (a ramp to
# 1.5-3 sigma, then back, as a recalibrated sensor), and on rotators the rotation's pace
# changes (10-30 % faster or slower; the phase it gained stays after)
REGIME_KINDS = ("step", "variance", "drift", "rhythm")
KEPLER_SUITES = ("kepler", "kepler-var", "kepler-long", "kepler-var-long", "kepler-other",
                 "kepler-var-other", "kepler-regime", "kepler-var-regime", "kepler-var-slow",
                 "kepler-eb", "kepler-puls")
# the rotators' periods in days: 1-4; kepler-var-slow (session 41): the kepler-var events
# on rotations of 5-20 days, where most of Kepler's spotted stars turn (McQuillan et al. 2014)
ROTATION = (1.0, 4.0)
SLOW_ROTATION = (5.0, 20.0)


def kepler_suite(suite: str, seed: int = 0, max_points: int | None = None) -> list[Case]:
    """The cases of one of `KEPLER_SUITES`: its kinds of event (15 of each; 10 of the five
    kinds of session 38, where a transit train is three events), on rotators for
    `kepler-var*` (of `SLOW_ROTATION` for kepler-var-slow)."""
    if suite in STAR_SIGNALS:  # the kepler events on another kind of variable star
        return kepler_cases(seed, per_kind=15, max_points=max_points, variable=True,
                            signal=STAR_SIGNALS[suite])
    other = suite.endswith("other")
    variable = suite.startswith("kepler-var")
    if suite.endswith("regime"):  # a quiet star has no rotation whose pace could change
        kinds = REGIME_KINDS if variable else REGIME_KINDS[:3]
        return kepler_cases(seed, per_kind=3 if variable else 4, max_points=max_points,
                            variable=variable, kinds=kinds, spacing=256)
    return kepler_cases(seed, per_kind=10 if other else 15, max_points=max_points,
                        variable=variable,
                        kinds=LONG_KINDS if suite.endswith("long") else (
                            OTHER_KINDS if other else KINDS),
                        rotation=SLOW_ROTATION if suite.endswith("slow") else ROTATION)


@dataclass
class Case:
    """One series: what the model trains on, what is scored, and the truth of every point."""

    object_id: str
    train: LightCurve
    test: LightCurve
    truth: np.ndarray
    events: list[dict[str, Any]] = field(default_factory=list)


# ---- the suites -----------------------------------------------------------------------------
def _curve(oid: str, t: np.ndarray, f: np.ndarray) -> LightCurve:
    return LightCurve.from_arrays(oid, t, f, emit_warnings=False)


def _short_event(kind: str, rng: np.random.Generator, sigma: float, base: np.ndarray,
                 tau: float) -> np.ndarray:
    """The flux added by one event of `KINDS` over `base` (the star's own flux there;
    `base.size` is the event's length)."""
    length = base.size
    x = np.arange(length, dtype=float)
    if kind == "dip":
        return -rng.uniform(1.5, 3.0) * sigma * np.sin(np.pi * (x + 0.5) / length) ** 0.5
    if kind == "flare":  # one-point rise, exponential decay (`tau` drawn with the length)
        return rng.uniform(3.0, 6.0) * sigma * np.concatenate([[0.5], np.exp(-x[:-1] / tau)])
    amp = rng.uniform(1.5, 2.5)
    period = rng.uniform(4, 8)
    return amp * sigma * np.sin(2 * np.pi * x / period + rng.uniform(0, 2 * np.pi))


def _long_event(kind: str, rng: np.random.Generator, sigma: float, base: np.ndarray,
                tau: float) -> np.ndarray:
    """The flux added by one event of `LONG_KINDS` (24-192 points; noise bursts 24-96)."""
    length = base.size
    x = np.arange(length, dtype=float)
    if kind == "plateau":
        return rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 2.5) * sigma * np.ones(length)
    if kind == "bump":  # a microlensing-like magnification, symmetric and smooth
        u0 = rng.uniform(0.3, 1.0)
        u = np.sqrt(u0 ** 2 + ((x - length / 2) / (length / 4)) ** 2)
        a = (u ** 2 + 2) / (u * np.sqrt(u ** 2 + 4))
        a0 = (u0 ** 2 + 2) / (u0 * np.sqrt(u0 ** 2 + 4))
        return rng.uniform(1.5, 4.0) * sigma * (a - a.min()) / (a0 - a.min())
    if kind == "ramp":
        return rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 4.0) * sigma * x / length
    return (rng.uniform(2.0, 3.0) - 1) * (base - np.median(base))  # the noise 2-3x as large


def _other_event(kind: str, rng: np.random.Generator, sigma: float, base: np.ndarray,
                 tau: float) -> np.ndarray:
    """The flux added by one event of `OTHER_KINDS` over `base` (`base.size` its length)."""
    length = base.size
    x = np.arange(length, dtype=float)
    if kind == "glitch":
        return rng.choice([-1.0, 1.0]) * rng.uniform(5.0, 10.0) * sigma * np.ones(length)
    if kind == "transits":  # three boxes, the first at the start, the last at the end
        out = np.zeros(length)
        width, depth = int(rng.integers(5, 10)), rng.uniform(1.0, 2.0) * sigma
        for k in range(3):
            start = round(k * (length - width) / 2)
            out[start: start + width] = -depth
        return out
    if kind == "flatline":  # the value held: the star's noise and variability stop
        return base[0] - base
    if kind == "wave":
        return rng.uniform(1.0, 2.0) * sigma * np.sin(
            2 * np.pi * x / rng.uniform(12, 30) + rng.uniform(0, 2 * np.pi))
    return rng.uniform(2.0, 3.0) * sigma * np.exp(-x / tau)  # a microflare


def _regime_event(kind: str, rng: np.random.Generator, sigma: float, base: np.ndarray,
                  tau: float) -> np.ndarray:
    """The flux added by one event of `REGIME_KINDS` over `base` (its length 256-1024
    points). A change of pace adds nothing here: `kepler_cases` warps the rotation there."""
    length = base.size
    x = np.arange(length, dtype=float)
    if kind == "step":
        return rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 2.0) * sigma * np.ones(length)
    if kind == "variance":
        return (rng.uniform(1.5, 2.5) - 1) * (base - np.median(base))
    if kind == "drift":
        return rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.0) * sigma * x / length
    return np.zeros(length)


def _paced(t: np.ndarray, events: Sequence[dict[str, Any]], rng: np.random.Generator
           ) -> np.ndarray:
    """The times a rotation is evaluated at: inside each "rhythm" event the clock runs
    10-30 % faster or slower, and the phase gained is kept after it."""
    clock = t.copy()
    for e in events:
        if e["kind"] != "rhythm":
            continue
        pace = 1 + rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.3)
        inside = (t >= e["start"]) & (t <= e["end"])
        after = t > e["end"]
        clock[inside] = e["start"] + pace * (t[inside] - e["start"])
        clock[after] += (pace - 1) * (e["end"] - e["start"])
        e["pace"] = float(pace)
    return clock


def _event_length(kind: str, rng: np.random.Generator) -> tuple[int, float]:
    """(points, a flare's decay time in points) of one event; the draws in the order the
    suite has always made them (the same seed, the same events)."""
    if kind == "dip":
        return int(rng.integers(6, 25)), 0.0
    if kind == "flare":
        tau = float(rng.uniform(2, 6))
        return 2 + int(np.ceil(tau * np.log(10))), tau  # until 10% of the peak
    if kind == "oscillation":
        return int(rng.integers(12, 37)), 0.0
    if kind == "noise":
        return int(rng.integers(24, 97)), 0.0
    if kind in REGIME_KINDS:
        return int(rng.integers(256, 1025)), 0.0
    if kind in OTHER_KINDS:
        return {"glitch": (int(rng.integers(1, 3)), 0.0),
                "transits": (int(rng.integers(60, 121)), 0.0),
                "flatline": (int(rng.integers(24, 97)), 0.0),
                "wave": (int(rng.integers(36, 97)), 0.0),
                "microflare": (int(rng.integers(5, 10)), float(rng.uniform(1, 3)))}[kind]
    return int(rng.integers(24, 193)), 0.0


def inject_events(t: np.ndarray, f: np.ndarray, rng: np.random.Generator, per_kind: int,
                  spacing: int, kinds: Sequence[str] = KINDS
                  ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Seeded events at random places without gaps, `spacing` points apart; sigma is the
    robust std (1.4826 MAD) of the series. `KINDS`: dips (1.5-3 sigma, 6-24 points), flares
    (3-6 sigma peak, fast rise, exponential decay) and oscillations (1.5-2.5 sigma).
    `LONG_KINDS` (session 28, no earlier default was decided on them): plateaus (1-2.5 sigma),
    microlensing-like bumps (1.5-4 sigma), ramps (to 1.5-4 sigma), all 24-192 points, and
    bursts of noise 2-3 times the star's (24-96 points). Returns flux, truth, events."""
    f = f.copy()
    n = t.size
    dt = float(np.median(np.diff(t)))
    sigma = 1.4826 * float(np.median(np.abs(f - np.median(f))))
    gap_after = np.diff(t) > 1.5 * dt  # True between i and i+1 when there is a gap
    gap_cum = np.concatenate([[0], np.cumsum(gap_after)])
    # a regime holds across the missing point or two Kepler drops every ~145 points; none
    # spans a gap of more than 10 cadences
    wide_cum = np.concatenate([[0], np.cumsum(np.diff(t) > 10 * dt)])
    truth = np.zeros(n, bool)
    taken = np.zeros(n, bool)
    events: list[dict[str, Any]] = []
    plan = [k for k in kinds for _ in range(per_kind)]
    rng.shuffle(plan)
    for kind in plan:
        gaps = wide_cum if kind in REGIME_KINDS else gap_cum
        for _attempt in range(300 if kind in LONG_KINDS else 200):
            length, tau = _event_length(kind, rng)
            i = int(rng.integers(spacing, n - spacing - length))
            lo, hi = i - 2, i + length + 2
            if taken[max(0, i - spacing): i + length + spacing].any():
                continue
            if gaps[hi] != gaps[lo]:
                continue
            make = _short_event if kind in KINDS else (
                _other_event if kind in OTHER_KINDS else (
                    _regime_event if kind in REGIME_KINDS else _long_event))
            add = make(kind, rng, sigma, f[i: i + length], tau)
            f[i: i + length] += add
            taken[i: i + length] = True
            # a transit train is three events: the points between its transits are the star's
            parts = _runs(add != 0) if kind == "transits" else [(0, length)]
            for a, b in parts:
                truth[i + a: i + b] = True
                events.append({"kind": kind, "start": float(t[i + a]),
                               "end": float(t[i + b - 1]),
                               "amplitude_sigma": float(np.max(np.abs(add[a:b]),
                                                               initial=0.0) / sigma),
                               "points": b - a})
            break
    return f, truth, events


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in `flags`."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


def truth_from_spans(time: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    y = np.zeros(time.size, bool)
    for a, b in spans:
        y |= (time >= a) & (time <= b)
    return y


def variability(t: np.ndarray, sigma: float, rng: np.random.Generator,
                rotation: tuple[float, float] = ROTATION) -> np.ndarray:
    """A spotted star's rotation: a period of 1-4 days by default (a 64-point window of
    30-minute data spans 1.3 days) with its first harmonic, 5-20 sigma peak to peak, slowly
    changing in amplitude (spots evolve over ~30 days)."""
    period = rng.uniform(*rotation)
    amp = rng.uniform(5.0, 20.0) * sigma / 2
    phase = 2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)
    evolve = 1 + 0.3 * np.sin(2 * np.pi * t / rng.uniform(20, 40) + rng.uniform(0, 6))
    return amp * evolve * (np.sin(phase) + 0.3 * np.sin(2 * phase + rng.uniform(0, 6)))


def eclipses(t: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A detached eclipsing binary (session 43): a period of 1-6 days, Gaussian eclipses
    2-5 % of it wide (sigma), the primary 10-40 sigma deep, the secondary 0.2-0.7 of it."""
    period, width = rng.uniform(1.0, 6.0), rng.uniform(0.02, 0.05)
    phase = (t / period + rng.uniform()) % 1.0
    depth, second = rng.uniform(10.0, 40.0) * sigma, rng.uniform(0.2, 0.7)
    return -depth * (np.exp(-0.5 * ((phase - 0.25) / width) ** 2)
                     + second * np.exp(-0.5 * ((phase - 0.75) / width) ** 2))


def pulsation(t: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """An RR Lyrae-like pulsator (session 43): a period of 0.4-0.7 days, a fast rise over
    10-20 % of it and a slow decline, 10-40 sigma peak to peak."""
    period, rise = rng.uniform(0.4, 0.7), rng.uniform(0.1, 0.2)
    phase = (t / period + rng.uniform()) % 1.0
    amp = rng.uniform(10.0, 40.0) * sigma / 2
    return amp * (np.where(phase < rise, phase / rise, 1.0 - (phase - rise) / (1 - rise)) * 2
                  - 1)


# the suites of the kepler events on other kinds of variable star (session 43)
STAR_SIGNALS: dict[str, Callable[..., np.ndarray]] = {"kepler-eb": eclipses,
                                                      "kepler-puls": pulsation}


def kepler_cases(seed: int = 0, per_kind: int = 15, train_fraction: float = 0.4,
                 stars: Sequence[str] | None = None, max_points: int | None = None,
                 variable: bool = False, kinds: Sequence[str] = KINDS, spacing: int = 96,
                 rotation: tuple[float, float] = ROTATION,
                 signal: Callable[..., np.ndarray] | None = None) -> list[Case]:
    """The Kepler injection-recovery suite; `variable`: every star also made a spotted,
    rotating one (`variability`, added after the events are injected at the quiet star's
    sigma), a star whose windows are not white noise, its period drawn from `rotation` (days),
    or, with `signal` (`STAR_SIGNALS`), another kind of variable;
    `kinds`: `KINDS`, or `LONG_KINDS` (the `-long` suites)."""
    files = sorted((SHARED / "kepler").glob("*.csv"))
    if stars:
        files = [p for p in files if p.stem in stars]
    if not files:
        raise SystemExit(f"no Kepler light curves under {SHARED / 'kepler'}")
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    for path in files:
        df = pd.read_csv(path).sort_values("time")
        if max_points:
            df = df.iloc[:max_points]
        t, f = df["time"].to_numpy(float), df["flux"].to_numpy(float)
        cut = int(train_fraction * t.size)
        ft, _, events = inject_events(t[cut:], f[cut:], rng, per_kind, spacing=spacing,
                                      kinds=kinds)
        if variable:
            sigma = 1.4826 * float(np.median(np.abs(f - np.median(f))))
            # a change of pace runs the rotation's clock faster or slower (its own draws:
            # the rotation draws what it would without one)
            clock = (_paced(t, events, np.random.default_rng([seed, 7, len(cases)]))
                     if any(e["kind"] == "rhythm" for e in events) else t)
            v = (signal(t, sigma, rng) if signal is not None
                 else variability(clock, sigma, rng, rotation))
            f, ft = f + v, ft + v[cut:]
        test = _curve(path.stem, t[cut:], ft)
        truth = truth_from_spans(test.time, [(e["start"], e["end"]) for e in events])
        cases.append(Case(path.stem, _curve(path.stem, t[:cut], f[:cut]), test, truth, events))
    return cases


def nab_cases(families: Sequence[str] = ("artificialWithAnomaly", "realKnownCause"),
              probation: float = 0.15, every: int = 1, whole: bool = False) -> list[Case]:
    """NAB's series (`every`: every so many points kept, the first of each; shorter series
    and probationary parts, the regime of NAB's hourly and shorter families), split after
    the probationary part, the truth from the labelled windows. `whole`: trained on the
    whole series, its anomalies included, and scored again (`nab-whole`: what a user with
    no clean part does)."""
    windows = json.loads((SHARED / "nab" / "combined_windows.json").read_text())
    cases = []
    for family in families:
        for path in sorted((SHARED / "nab" / family).glob("*.csv")):
            key = f"{family}/{path.name}"
            df = pd.read_csv(path)
            ts = pd.to_datetime(df["timestamp"])
            t0 = ts.iloc[0]
            t = ((ts - t0).dt.total_seconds() / 86400.0).to_numpy()
            f = df["value"].to_numpy(float)
            t, f = t[::every], f[::every]
            spans = [((pd.Timestamp(a) - t0).total_seconds() / 86400.0,
                      (pd.Timestamp(b) - t0).total_seconds() / 86400.0)
                     for a, b in windows.get(key, [])]
            cut = int(probation * t.size)
            oid = path.stem
            if whole:
                curve = _curve(oid, t, f)
                cases.append(Case(oid, curve, curve, truth_from_spans(curve.time, spans)))
                continue
            test = _curve(oid, t[cut:], f[cut:])  # repairs (duplicate times) may drop points
            cases.append(Case(oid, _curve(oid, t[:cut], f[:cut]), test,
                              truth_from_spans(test.time, spans)))
    return cases


DISCORDS = ("no_first_lobe", "squeezed", "small")


def _ecg(phase: np.ndarray, p_wave: float = 0.15) -> np.ndarray:
    """P wave, QRS complex, T wave on one period (phase in [0, 1))."""
    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-(((phase - centre) / width) ** 2))
    return (p_wave * bump(0.2, 0.03) - 0.1 * bump(0.37, 0.01) + bump(0.4, 0.012)
            - 0.2 * bump(0.43, 0.01) + 0.3 * bump(0.65, 0.05))


def _resp(phase: np.ndarray, second: float = 0.3) -> np.ndarray:
    return np.sin(2 * np.pi * phase) + second * np.sin(4 * np.pi * phase + 0.5)


def discord_cases(seed: int = 0, n: int = 12_000, train: int = 4000, period: float = 137.0
                  ) -> list[Case]:
    """One case per (shape, distortion); the truth is the distorted cycle."""
    cases = []
    for i, (shape, fn) in enumerate((("ecg", _ecg), ("resp", _resp))):
        for j, kind in enumerate(DISCORDS):
            rng = np.random.default_rng([seed, i, j])
            t = np.arange(n, dtype=float)
            inst = period * (1 + 0.03 * np.sin(2 * np.pi * t / 3000 + rng.uniform(0, 6)))
            ph = np.cumsum(1 / inst)
            cyc, phase = np.floor(ph), ph - np.floor(ph)
            f = fn(phase)
            sel = cyc == cyc[rng.integers(train + 1000, n - 1000)]
            if kind == "no_first_lobe":
                f[sel] = fn(phase[sel], 0.0)
            elif kind == "squeezed":
                f[sel] = fn(0.4 + (phase[sel] - 0.4) * 0.6)
            else:
                f[sel] *= 0.6
            f = f + rng.normal(0, 0.02, n)
            oid = f"{shape}_{kind}"
            lo, hi = np.flatnonzero(sel)[[0, -1]]
            cases.append(Case(oid, _curve(oid, t[:train], f[:train]),
                              _curve(oid, t[train:], f[train:]), sel[train:],
                              [{"kind": "discord", "start": float(lo), "end": float(hi)}]))
    return cases


SYNTHETIC_EVENTS = ("flare", "dip", "oscillation", "glitch")


def synthetic_cases(seed: int = 0, n: int = 12_000, train: int = 4000, per_kind: int = 2
                    ) -> list[Case]:
    """lcad's own generator (`lcad.models.synthetic`): one periodic or red-noise star per
    variable kind (sinusoid, eclipsing, RR Lyrae-like, damped random walk; 20-60 points a
    period, noise 5 % of the signal), trained on its first `train` points; the rest carries
    `per_kind` flares, dips, fast oscillations and two-point glitches, evenly spaced, in
    units of the curve's std."""
    from lcad.models.synthetic import VARIABLE_KINDS, inject, make_curve, point_labels

    cases = []
    for i, kind in enumerate(VARIABLE_KINDS):
        rng = np.random.default_rng([seed, 100 + i])
        oid = f"synth_{kind}"
        c = make_curve(oid, rng, kind=kind, n_points=n)
        t, f, e = c.time, c.flux, c.flux_err
        test = LightCurve.from_arrays(oid, t[train:], f[train:], e[train:] if e is not None
                                      else None, emit_warnings=False)
        plan = [k for k in SYNTHETIC_EVENTS for _ in range(per_kind)]
        rng.shuffle(plan)
        span = test.time[-1] - test.time[0]
        injected = [inject(test, k, rng, at=float(test.time[0] + span * (j + 0.5) / len(plan)))
                    for j, k in enumerate(plan)]
        events = [{"kind": x.kind, "start": x.start, "end": x.end} for x in injected]
        cases.append(Case(oid, LightCurve.from_arrays(
            oid, t[:train], f[:train], e[:train] if e is not None else None,
            emit_warnings=False), test, point_labels(test, injected), events))
    return cases


def located(cases: Sequence[Case], scores: Sequence[np.ndarray], margin: int = 64) -> int:
    """Cases whose top-scored point lies within `margin` points of the labelled stretch
    (`lcad evaluate`'s `located`, counted)."""
    return sum(located_hits([c.test.time for c in cases], scores, [_spans(c) for c in cases],
                            margin))


# ---- the methods ----------------------------------------------------------------------------
def fit_lcad(train: Sequence[LightCurve], config: DetectorConfig) -> Detector:
    from lcad.models.fit import fit_detector

    det, _ = fit_detector(list(train), config)
    return det


def lcad_scores(det: Detector, cases: Sequence[Case]) -> list[np.ndarray]:
    result = det.score([c.test for c in cases], on_error="skip")
    by_id = {c.object_id: c.point_score for c in result}
    return [by_id.get(c.object_id, np.full(c.test.time.size, np.nan)) for c in cases]


def _to_points(p: Prepared, window_values: np.ndarray, window: int,
               starts: np.ndarray | None = None, how: str = "mean") -> np.ndarray:
    """Window scores -> point scores: the mean (or max) over the windows covering a point."""
    starts = p.win.starts if starts is None else starts
    spread = coverage_max if how == "max" else coverage_mean
    grid = spread(window_values, starts, window, p.res.n_grid)
    return np.where(p.curve.mask, grid[p.res.point_grid], np.nan)


def baseline_scores(det: Detector, cases: Sequence[Case], seed: int = 0,
                    only: Sequence[str] | None = None) -> dict[str, list[np.ndarray]]:
    """Every baseline on the windows lcad's own preprocessing cuts (same grid, same splits)."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    w = det.window
    train = [det.prepare(c.train, stride=1) for c in cases]
    test = [det.prepare(c.test, stride=1) for c in cases]
    rng = np.random.default_rng(seed)
    x_tr = np.concatenate([p.xn[p.valid] for p in train])
    if x_tr.shape[0] > 50_000:
        x_tr = x_tr[rng.choice(x_tr.shape[0], 50_000, replace=False)]
    out: dict[str, list[np.ndarray]] = {}
    want = set(only or ("isolation_forest", "pca", "dense_ae_keras_io", "matrix_profile"))

    if "isolation_forest" in want:
        iso = IsolationForest(n_estimators=200, random_state=seed).fit(x_tr)
        out["isolation_forest"] = [
            _to_points(p, np.where(p.valid, -iso.score_samples(p.xn), np.nan), w) for p in test]
    if "pca" in want:
        pca = PCA(n_components=min(det.latent_dim, *x_tr.shape), random_state=seed).fit(x_tr)
        scores = []
        for p in test:
            rec = pca.inverse_transform(pca.transform(p.xn))
            m = p.win.mask
            err = ((p.xn - rec) ** 2 * m).sum(1) / np.maximum(m.sum(1), 1)
            scores.append(_to_points(p, np.where(p.valid, err, np.nan), w))
        out["pca"] = scores
    if "dense_ae_keras_io" in want:
        out["dense_ae_keras_io"] = _keras_io_ae(train, test, w, seed)
    if "matrix_profile" in want:
        mps = [_matrix_profile(a, b, w) for a, b in zip(train, test, strict=True)]
        out["matrix_profile"] = [_to_points(p, mp, w, np.arange(mp.size))
                                 for p, mp in zip(test, mps, strict=True)]
        # the same profile spread as lcad spreads its novelty: the max over covering windows
        out["matrix_profile_max"] = [_to_points(p, mp, w, np.arange(mp.size), "max")
                                     for p, mp in zip(test, mps, strict=True)]
        # windows as long as lcad's coarser novelty view (4 x w grid points) at full
        # resolution; a series whose training part is too short keeps the w-point profile
        long_w = 4 * w
        long_scores = []
        for a, b, mp in zip(train, test, mps, strict=True):
            if min(a.res.n_grid, b.res.n_grid) > long_w:
                mp4 = _matrix_profile(a, b, long_w)
                long_scores.append(_to_points(b, mp4, long_w, np.arange(mp4.size)))
            else:
                long_scores.append(_to_points(b, mp, w, np.arange(mp.size)))
        out["matrix_profile_4w"] = long_scores
    return out


def _keras_io_ae(train: Sequence[Prepared], test: Sequence[Prepared], w: int, seed: int
                 ) -> list[np.ndarray]:
    """What a user copies from keras.io: z-score with the training mean/std, a dense
    autoencoder trained with MSE on every window (gaps filled with 0, no masks), window MAE."""
    import keras

    vals = np.concatenate([p.res.values[np.isfinite(p.res.values)] for p in train])
    mu, sd = float(vals.mean()), float(vals.std()) or 1.0

    def z(p: Prepared) -> np.ndarray:
        return np.nan_to_num((p.win.x - mu) / sd).astype(np.float32)

    x = np.concatenate([z(p) for p in train])
    keras.utils.set_random_seed(seed)
    d = x.shape[1]
    net = keras.Sequential([keras.Input((d,)), keras.layers.Dense(32, activation="relu"),
                            keras.layers.Dense(16, activation="relu"),
                            keras.layers.Dense(32, activation="relu"), keras.layers.Dense(d)])
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    net.fit(x, x, epochs=50, batch_size=128, validation_split=0.1, verbose=0,
            callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5,
                                                     restore_best_weights=True)])
    out = []
    for p in test:
        xt = z(p)
        err = np.abs(net.predict(xt, batch_size=4096, verbose=0) - xt).mean(1)
        out.append(_to_points(p, err, w))
    return out


def _matrix_profile(train: Prepared, test: Prepared, w: int) -> np.ndarray:
    """Euclidean distance (non-normalised: stumpy.aamp) of every test subsequence to its
    nearest neighbour in the training part of the same series (per subsequence start); a
    series trained on whole and scored again (`nab-whole`): the self-join, which skips the
    subsequences overlapping each one."""
    import stumpy

    a = test.res.values[0].astype(np.float64)
    if train.curve is test.curve:
        mp = stumpy.aamp(a, w)[:, 0].astype(np.float64)
        mp[~np.isfinite(mp)] = np.nan
        return mp
    b = train.res.values[0].astype(np.float64)
    mp = stumpy.aamp(a, w, T_B=b, ignore_trivial=False)[:, 0].astype(np.float64)
    mp[~np.isfinite(mp)] = np.nan
    return mp  # one value per subsequence start (grid points 0, 1, ...)


# ---- metrics --------------------------------------------------------------------------------
def unscored_lowest(s: np.ndarray) -> np.ndarray:
    """Points a method leaves unscored (NaN: gaps, a series too short for its window) rank
    below every scored point, so that every method is ranked on every point."""
    ok = np.isfinite(s)
    return np.where(ok, s, (s[ok].min() - 1.0) if ok.any() else 0.0)


def _near(y: np.ndarray, reach: int) -> np.ndarray:
    """Points within `reach` points of a True one (those included)."""
    from scipy.ndimage import binary_dilation

    return binary_dilation(y, np.ones(2 * reach + 1, bool)) if reach > 0 else y.copy()


def metrics(cases: Sequence[Case], scores: Sequence[np.ndarray], far: float = FAR,
            buffer: int = 64) -> dict[str, Any]:
    """Point PR/ROC-AUC per series (mean) and pooled, event recall at `far` false alarms, and
    the range-aware VUS-PR (buffers up to `buffer` points: lcad's window) per series."""
    per = []
    ranked = [unscored_lowest(s) for s in scores]
    for c, s in zip(cases, ranked, strict=True):
        m = ranking_metrics(c.truth, s)
        if m:
            per.append({"object": c.object_id, **m, "vus_pr": vus_pr(c.truth, s, buffer)})
    pooled = ranking_metrics(np.concatenate([c.truth for c in cases]), np.concatenate(ranked))
    out: dict[str, Any] = {
        "mean_pr_auc": float(np.mean([m["pr_auc"] for m in per])) if per else float("nan"),
        "mean_roc_auc": float(np.mean([m["roc_auc"] for m in per])) if per else float("nan"),
        "mean_vus_pr": float(np.mean([m["vus_pr"] for m in per])) if per else float("nan"),
        "pooled_pr_auc": pooled.get("pr_auc", float("nan")),
        "pooled_roc_auc": pooled.get("roc_auc", float("nan")),
        "event_recall": event_recall(list(scores), [c.truth for c in cases], far),
        # the threshold set on points more than half a window from any event: flags on an
        # event's own shoulders are not counted as false alarms
        "event_recall_apart": event_recall(list(scores), [c.truth for c in cases], far,
                                           [~_near(c.truth, buffer // 2) for c in cases]),
        "per_series": per,
    }
    kinds = {e["kind"] for c in cases for e in c.events}
    for kind in sorted(kinds):
        truths = []
        for c in cases:
            y = np.zeros(c.truth.size, bool)
            for e in c.events:
                if e["kind"] == kind:
                    y |= (c.test.time >= e["start"]) & (c.test.time <= e["end"])
            truths.append(y)
        normal = [~c.truth for c in cases]
        out[f"recall_{kind}"] = event_recall(scores, truths, far, normal)
    return out


# ---- running a suite ------------------------------------------------------------------------
def suite_cases(suite: str, seed: int = 0, quick: bool = False, every: int = 1) -> list[Case]:
    """The cases of a suite by name: one of `KEPLER_SUITES` (`quick`: the first 20k points
    of each star), nab (`every`: every so many points), discord, synthetic."""
    if suite in KEPLER_SUITES:
        return kepler_suite(suite, seed, max_points=20_000 if quick else None)
    if suite == "nab":
        return nab_cases(every=every)
    if suite == "nab-whole":
        return nab_cases(every=every, whole=True)
    if suite == "discord":
        return discord_cases(seed)
    if suite == "synthetic":
        return synthetic_cases(seed)
    raise SystemExit(f"unknown suite {suite!r}")


def run_suite(suite: str, config: DetectorConfig, baselines: bool, seed: int = 0,
              quick: bool = False, log: Callable[[str], None] = print,
              per_star: bool = False, every: int = 1, also_look_for: str | None = None
              ) -> dict[str, Any]:
    """One suite: every method's metrics (Kepler: one model on all stars, or one per star
    with `per_star`; NAB and discords: one per series). `also_look_for`: the same models
    asked for another point score when scoring (`Detector.looking_for`), as the method
    `lcad:<what>` (a model that cannot be asked keeps its own)."""
    t0 = time.perf_counter()
    cases = suite_cases(suite, seed, quick, every)
    groups = [[c] for c in cases] if per_star or suite not in KEPLER_SUITES else [cases]
    scores: dict[str, list[np.ndarray]] = {}
    learned: dict[str, Any] = {}  # what the autoencoder learned, per model
    for group in groups:
        det = fit_lcad([c.train for c in group], config)
        learned[",".join(c.object_id for c in group)] = {
            **{k: det.info.autoencoder.get(k) for k in ("status", "recon_r2",
                                                         "recon_r2_ceiling", "active_units")},
            "point_score": det.point_method,
            # how long the network trained (train.epochs caps it, early stopping ends it)
            **{k: det.metrics.get(k) for k in ("epochs_run", "train_seconds")},
            # what the "auto" rule decided from (bench.auto_rule replays it)
            "residual_lag1": det.calibration.residual_lag1 if det.calibration else None,
            "repeat_fraction": det.calibration.repeat_fraction if det.calibration else None}
        scores.setdefault("lcad", []).extend(lcad_scores(det, group))
        if also_look_for:
            asked = det.looking_for(also_look_for) if also_look_for in det.look_for else det
            scores.setdefault(f"lcad:{also_look_for}", []).extend(lcad_scores(asked, group))
        if baselines:
            for name, s in baseline_scores(det, group, seed).items():
                scores.setdefault(name, []).extend(s)
        log(f"  {suite}: {', '.join(c.object_id for c in group)} done "
            f"({time.perf_counter() - t0:.0f} s)")
    result = {name: metrics(cases, s, buffer=config.preprocess.window)
              for name, s in scores.items()}
    if suite == "discord":
        for name, s in scores.items():
            result[name]["located"] = located(cases, s)
    n_events = sum(len(c.events) for c in cases)
    statuses = [v["status"] for v in learned.values()]
    log(f"  {suite} autoencoder: " + ", ".join(f"{s} {statuses.count(s)}"
                                                for s in sorted(set(statuses))))
    return {"suite": suite, "series": len(cases), "events": n_events,
            "seconds": time.perf_counter() - t0, "methods": result, "autoencoder": learned}


def summary_table(res: dict[str, Any]) -> str:
    cols = ["mean_pr_auc", "mean_vus_pr", "mean_roc_auc", "pooled_pr_auc", "event_recall",
            "event_recall_apart"]
    extra = sorted(k for k in next(iter(res["methods"].values()))
                   if k.startswith("recall_") or k == "located")
    def cell(v: Any) -> str:
        return (f"{v:.3f}" if isinstance(v, float) and np.isfinite(v)
                else str(v) if isinstance(v, int) else "-")

    rows = [[name] + [cell(m.get(c)) for c in cols + extra]
            for name, m in sorted(res["methods"].items(), key=lambda kv: -kv[1]["mean_pr_auc"])]
    return table(["method", *cols, *extra], rows)


def spread_table(res: dict[str, Any]) -> str:
    """Per method, over the series of a suite: PR-AUC and VUS-PR as mean +- std and the worst
    series, and on how many series lcad does at least as well (a one-series tuning shows up
    as a large spread and few wins)."""
    ours = {m["object"]: m for m in res["methods"]["lcad"]["per_series"]}

    def stats(values: list[float]) -> str:
        v = np.asarray(values, dtype=float)
        return f"{v.mean():.3f} +- {v.std():.3f} (min {v.min():.3f})" if v.size else "-"

    rows = []
    for name, m in sorted(res["methods"].items(), key=lambda kv: -kv[1]["mean_pr_auc"]):
        per = m["per_series"]
        won = [sum(ours[r["object"]][k] >= r[k] - 1e-12 for r in per if r["object"] in ours)
               for k in ("pr_auc", "vus_pr")]
        rows.append([name, stats([r["pr_auc"] for r in per]),
                     stats([r["vus_pr"] for r in per]),
                     "-" if name == "lcad" else f"{won[0]}/{len(per)}",
                     "-" if name == "lcad" else f"{won[1]}/{len(per)}"])
    return table(["method", "PR-AUC over series", "VUS-PR over series",
                  "lcad >= it (PR-AUC)", "lcad >= it (VUS-PR)"], rows)


def export(out: Path, seed: int = 0, suite: str = "kepler") -> None:
    """A suite as files for `lcad sweep` (and `lcad train`, `lcad evaluate`): train.csv,
    test.csv and labels.csv (object_id, start, end: the labelled stretches, an injected
    event or a NAB label window each)."""
    out.mkdir(parents=True, exist_ok=True)
    cases = suite_cases(suite, seed)
    spans = [(c.object_id, a, b) for c in cases for a, b in _spans(c)]

    def frame(curves: Sequence[LightCurve]) -> pd.DataFrame:
        return pd.concat([pd.DataFrame({"object_id": c.object_id, "time": c.time,
                                        "flux": c.flux}) for c in curves])

    frame([c.train for c in cases]).to_csv(out / "train.csv", index=False)
    frame([c.test for c in cases]).to_csv(out / "test.csv", index=False)
    pd.DataFrame(spans, columns=["object_id", "start", "end"]).to_csv(out / "labels.csv",
                                                                      index=False)
    print(f"wrote {out}/train.csv, test.csv, labels.csv ({suite}: {len(cases)} series)")


def _spans(case: Case) -> list[tuple[float, float]]:
    """The labelled stretches of a case's test part, as (first, last) times."""
    t = case.test.time
    return [(float(t[a]), float(t[b - 1])) for a, b in true_runs(case.truth)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", nargs="?", default="run", choices=["run", "export", "report"],
                    help="report: print the tables of a results JSON (--out) again")
    ap.add_argument("--suite", default="all",
                    choices=["all", "nab", "nab-whole", "discord", "synthetic",
                             *KEPLER_SUITES],
                    help="not in all: kepler-var (the Kepler stars made spotted rotators), "
                    "synthetic (lcad's generator: periodic and red-noise stars), nab-whole "
                    "(NAB trained on whole, anomalies included, and scored again)")
    ap.add_argument("--config", type=Path, help="detector YAML (default: lcad's defaults)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="Kepler: first 20k points per star")
    ap.add_argument("--every", type=int, default=1, metavar="K",
                    help="NAB: every K-th point only (shorter series and training parts)")
    ap.add_argument("--per-star", action="store_true",
                    help="Kepler: one model per star (bench.auto_rule needs a decision each)")
    ap.add_argument("--out", type=Path, help="JSON results (default bench/results/...)")
    ap.add_argument("--also-look-for", choices=["events", "shapes"],
                    help="also score each model asked to look for these (a method "
                    "lcad:<what>; lcad score --look-for)")
    args = ap.parse_args(argv)
    if args.action == "export":
        export(args.out or Path("quality-data"), args.seed,
               "kepler" if args.suite == "all" else args.suite)
        return 0
    if args.action == "report":
        saved = json.loads((args.out or RESULTS / f"quality-{args.suite}.json").read_text())
        for suite, res in saved["suites"].items():
            print(f"\n## {suite}: {res['series']} series, {res['events']} injected events\n")
            print(summary_table(res) + "\n\n" + spread_table(res))
        return 0
    cfg = (DetectorConfig.from_yaml(args.config.read_text()) if args.config
           else DetectorConfig())
    cfg = cfg.with_overrides(args.set)
    suites = ["kepler", "nab", "discord"] if args.suite == "all" else [args.suite]
    report: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                              "command": "python -m bench.quality " + " ".join(
                                  argv if argv is not None else sys.argv[1:]),
                              "overrides": args.set, "suites": {}}
    for suite in suites:
        res = run_suite(suite, cfg, not args.no_baselines, args.seed, args.quick,
                        per_star=args.per_star, every=args.every,
                        also_look_for=args.also_look_for)
        report["suites"][suite] = res
        print(f"\n## {suite}: {res['series']} series, {res['events']} injected events, "
              f"{res['seconds']:.0f} s\n")
        print(summary_table(res) + "\n\n" + spread_table(res))
    out = args.out or RESULTS / f"quality-{args.suite}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=float))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
