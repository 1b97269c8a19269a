"""Seeded synthetic light curves with labelled injected anomalies, for demos and tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lcad.models.lightcurve import LightCurve

VARIABLE_KINDS = ("sinusoid", "eclipsing", "rrlyrae", "red_noise")
ANOMALY_KINDS = ("flare", "dip", "step", "oscillation", "glitch")


@dataclass
class Injection:
    object_id: str
    kind: str
    start: float
    end: float
    amplitude: float


def _variable(kind: str, t: np.ndarray, rng: np.random.Generator,
              period_range: tuple[float, float] = (0.4, 1.2)) -> np.ndarray:
    period = rng.uniform(*period_range)
    phase = ((t / period) + rng.uniform()) % 1.0
    if kind == "sinusoid":
        return np.sin(2 * np.pi * phase) + 0.3 * np.sin(4 * np.pi * phase + rng.uniform(0, 6))
    if kind == "eclipsing":
        width = rng.uniform(0.03, 0.06)
        d1 = np.exp(-0.5 * ((phase - 0.25) / width) ** 2)
        d2 = 0.5 * np.exp(-0.5 * ((phase - 0.75) / width) ** 2)
        return -2.0 * (d1 + d2)
    if kind == "rrlyrae":  # fast rise, slow decline
        rise = 0.15
        return np.where(phase < rise, phase / rise, 1.0 - (phase - rise) / (1 - rise)) * 2 - 1
    # red noise: a damped random walk (Ornstein-Uhlenbeck) sampled at the observation times
    tau = rng.uniform(0.5, 2.0)
    out = np.zeros(t.size)
    for i in range(1, t.size):
        a = np.exp(-(t[i] - t[i - 1]) / tau)
        out[i] = a * out[i - 1] + np.sqrt(1 - a * a) * rng.normal()
    return out


def sample_times(n_points: int, cadence: float, rng: np.random.Generator, *,
                 irregular: bool = False, seasonal_gaps: bool = False) -> np.ndarray:
    """Regular (or jittered, randomly thinned) times, optionally with seasonal gaps."""
    t = np.arange(n_points) * cadence
    if irregular:
        t = np.sort(t + rng.uniform(-0.4, 0.4, n_points) * cadence)
        t = t[rng.uniform(size=t.size) > 0.2]
    if seasonal_gaps:
        season = n_points * cadence / 3
        t = t[(t % season) < 0.75 * season]
    return t


def make_curve(
    object_id: str,
    rng: np.random.Generator,
    *,
    kind: str = "sinusoid",
    n_points: int = 1500,
    cadence: float = 0.02,
    noise: float = 0.05,
    irregular: bool = False,
    seasonal_gaps: bool = False,
    period_range: tuple[float, float] = (0.4, 1.2),
) -> LightCurve:
    """One clean variable star light curve with flux errors."""
    t = sample_times(n_points, cadence, rng, irregular=irregular, seasonal_gaps=seasonal_gaps)
    signal = _variable(kind, t, rng, period_range)
    err = noise * rng.uniform(0.8, 1.2, t.size)
    flux = 10.0 + signal + rng.normal(0, 1, t.size) * err
    return LightCurve.from_arrays(object_id, t, flux, err, emit_warnings=False)


def inject(curve: LightCurve, kind: str, rng: np.random.Generator,
           amplitude: float | None = None, at: float | None = None) -> Injection:
    """Add one anomaly to `curve` in place; amplitudes in units of the curve's own std."""
    t = curve.time
    span = t[-1] - t[0]
    dt = float(np.median(np.diff(t)))
    sigma = float(np.nanstd(curve.flux))
    start = float(at if at is not None else rng.uniform(t[0] + 0.2 * span, t[0] + 0.75 * span))
    if kind == "flare":
        amp = amplitude or rng.uniform(3, 6)
        decay = rng.uniform(4, 10) * dt
        dt_ = t - start
        shape = np.where(dt_ < 0, np.exp(-0.5 * (dt_ / dt) ** 2),
                         np.exp(-np.maximum(dt_, 0.0) / decay))
        end = start + 5 * decay
    elif kind == "dip":
        amp = -(amplitude or rng.uniform(2, 4))
        dur = rng.uniform(10, 24) * dt
        x = (t - start) / dur
        shape = np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)) ** 0.5, 0.0)
        end = start + dur
    elif kind == "step":
        amp = amplitude or rng.choice([-1, 1]) * rng.uniform(2, 4)
        end = float(t[-1])
        shape = (t >= start).astype(float)
    elif kind == "oscillation":
        amp = amplitude or rng.uniform(1.5, 2.5)
        dur = rng.uniform(20, 40) * dt
        inside = (t >= start) & (t <= start + dur)
        shape = np.where(inside, np.sin(2 * np.pi * (t - start) / (4 * dt)), 0.0)
        end = start + dur
    elif kind == "glitch":
        amp = amplitude or rng.choice([-1, 1]) * rng.uniform(6, 10)
        i = int(np.searchsorted(t, start))
        shape = np.zeros(t.size)
        shape[i: i + 2] = 1.0
        end = float(t[min(i + 1, t.size - 1)])
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}; choose from {ANOMALY_KINDS}")
    curve.flux = curve.flux + amp * sigma * shape
    return Injection(curve.object_id, kind, start, float(end), float(amp))


def synthetic_dataset(
    n_objects: int = 20,
    *,
    anomalous: int = 0,
    kinds: Sequence[str] = ("sinusoid", "eclipsing", "rrlyrae"),
    anomaly_kinds: Sequence[str] = ("flare", "dip"),
    n_points: int = 1500,
    seed: int = 0,
    **curve_kw: object,
) -> tuple[list[LightCurve], list[Injection]]:
    """`n_objects` curves; the last `anomalous` of them carry one injected anomaly each."""
    rng = np.random.default_rng(seed)
    curves, injections = [], []
    for i in range(n_objects):
        c = make_curve(f"synth-{i:04d}", rng, kind=kinds[i % len(kinds)], n_points=n_points,
                       **curve_kw)  # type: ignore[arg-type]
        if i >= n_objects - anomalous:
            injections.append(inject(c, anomaly_kinds[i % len(anomaly_kinds)], rng))
        curves.append(c)
    return curves, injections


def point_labels(curve: LightCurve, injections: Sequence[Injection]) -> np.ndarray:
    """True for points inside an injection of this curve."""
    lab = np.zeros(curve.time.size, dtype=bool)
    for inj in injections:
        if inj.object_id == curve.object_id:
            lab |= (curve.time >= inj.start) & (curve.time <= inj.end)
    return lab


def to_frame(curves: Sequence[LightCurve]) -> pd.DataFrame:
    """Long format: object_id, time, flux, flux_err, band."""
    frames = []
    for c in curves:
        frames.append(pd.DataFrame({
            "object_id": c.object_id, "time": c.time, "flux": c.flux,
            "flux_err": c.flux_err if c.flux_err is not None else np.nan,
            "band": c.band_labels(),
        }))
    return pd.concat(frames, ignore_index=True)


def injections_frame(injections: Sequence[Injection]) -> pd.DataFrame:
    return pd.DataFrame([asdict(i) for i in injections],
                        columns=["object_id", "kind", "start", "end", "amplitude"])
