"""The odd object among many: per-object ranking on SDSS Stripe 82 RR Lyrae (issue 18).

The 241 stars of ../shared/data/rrlyrae are RR Lyrae of type ab (the majority) or c (the
minority: overtone pulsators, shorter periods, near-sinusoidal, smaller amplitudes). Every
method ranks the stars of a task, unsupervised, trained on all of them; the c types are the
positives. Two tasks:
- `all`: every star (46 c of 241, 19 %), `--draws` times with another training seed (spread);
- `rare`: the 195 ab stars with 10 c stars drawn at random (5 %), `--draws` times (spread);
- `injected`: the 195 ab stars, 12 of them (6 %) made odd, three of each kind: a flare (1-2
  mag brighter for 3 days), an eclipse (0.5-1 mag fainter for 30 days), shuffled times (the
  same fluxes in a random order: no period), constant (the median plus noise at the errors:
  a non-variable among variables); drawn again per `--draws`;
- `kepler-survey`: the 4 Kepler stars cut into 100-day segments (60 per star, random starts)
  and sampled as a ground survey would (one epoch on about half the nights, a 30-day seasonal
  gap, two bands a few minutes apart: g = 1 + 1 % x flux, r = 1.3 x the same at the next
  Kepler sample; errors 1 %); 6 % of the segments get an event, a third of each kind: a flare
  (5-10 sigma peak, 2-day decay, weaker in r), a dip (4-6 sigma for 3-8 days), a step (3-5
  sigma from a random night on). Tests sparse two-band objects from other stars than the RR
  Lyrae and events that are not whole-object traits;
- `transients` (synthetic, what CRTS and ZTF see: issue 18's held-out sets): two-band survey
  curves in magnitudes (2-4 seasons, a visit on 10-40 % of the nights, errors growing towards
  the limit, detections only) of four kinds: `agn` (a damped random walk, 50-500 days, 0.05-
  0.25 mag), `blazar` (the same, 5-50 days, 0.25-0.6 mag, redder when brighter), `sn` (a host
  and one Bazin-shaped explosion, 0.8-2.5 mag), `cv` (dwarf-nova outbursts of 2-4 mag every
  20-150 days). Each kind in turn is the rare one (10 among 60 of each other kind), and
  `sn-fast` (a faster, fainter, redder subtype: 10 among 200 `sn`) stands for rare SN Ia
  subtypes. Not tuned on: the generator's kinds and ranges were fixed before any method was
  run on them. `--scale K`: K times as many of every kind (the same 5 % rare);
- `crts` (session 44): the same kinds as Catalina sees them, in one unfiltered band (V):
  5-8 seasons, a visit on 8-15 % of the nights with four exposures about 10 minutes apart,
  errors 0.08 mag at V = 19, detections brighter than 19.8 (AGN and blazars 0.3 mag brighter
  than in `transients`); each kind in turn the rare one as there. CRTS, a held-out set of
  issue 18, is one band with four exposures a visit;
- `alerts` (synthetic, what a broker's SN Ia subtype filter sees: issue 18's held-out ZTF
  set; session 34): g and r alert histories of SN Ia, from a few days to three weeks before
  the peak to 2-5 months after, each band on 45 % of the nights at its own time of night
  (30 minutes' jitter), detections only (brighter than 20.8), peaks 17.5-19.5 mag; 10
  91bg-like among 200 normal (g declining 1.8x and r 1.8x faster, 0.4-0.8 mag redder).
  Whole-event curves, no host, where `transients`' `sn-fast` are host curves with a few
  bright epochs.
Metrics: ROC-AUC, PR-AUC (prevalence = chance), precision at 10 and 25, recall at 25.

Methods: lcad with its defaults (object score; unscored objects rank last); light-curve
features (models/features.py: per band variability, amplitude, shape, Lomb-Scargle period,
colours) + Isolation Forest, as the CRTS/ZTF literature does; lcad's latent codes (the object
embeddings) + Isolation Forest (do the codes carry the difference?); ablations of the object
score (models/objects.py): the autoencoder's error alone, the forest without the error.

    python -m bench.objects            # ~35 min on 2 cores without `transients`
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd

from bench.common import heading, report, table
from bench.quality import SHARED
from lcad.models.config import DetectorConfig
from lcad.models.io import read_curves
from lcad.models.lightcurve import LightCurve
from lcad.models.objects import ObjectModel
from lcad.training.evaluate import at_k_metrics, features_iforest, ranking_metrics


def rr_lyrae() -> tuple[list[LightCurve], np.ndarray]:
    """The curves (sentinels masked) and whether each is a c type."""
    root = SHARED / "rrlyrae"
    curves = read_curves(root / "stripe82_rrlyrae.csv")
    types = pd.read_csv(root / "periods.csv").set_index("Num")["Type"].astype(str)
    is_c = np.array([types.get(int(c.object_id), "ab") == "c" for c in curves])
    return curves, is_c


INJECTED_KINDS = ("flare", "eclipse", "shuffle", "constant")


def inject(curve: LightCurve, kind: str, rng: np.random.Generator) -> LightCurve:
    """A copy of `curve` made odd in one of `INJECTED_KINDS` (module docstring)."""
    c = copy.deepcopy(curve)
    t, f, labels = c.time, c.flux.copy(), c.band_labels()
    if kind == "flare":
        t0 = rng.choice(t[c.mask])
        f[(t >= t0) & (t < t0 + 3)] *= 10 ** (0.4 * rng.uniform(1, 2))
    elif kind == "eclipse":
        t0 = rng.choice(t[c.mask])
        f[(t >= t0) & (t < t0 + 30)] *= 10 ** (-0.4 * rng.uniform(0.5, 1))
    else:
        for b in c.bands:
            s = (labels == b) & c.mask
            if not s.any():
                continue
            if kind == "shuffle":
                f[s] = rng.permutation(f[s])
            else:
                med = np.median(f[s])
                e = c.flux_err[s] if c.flux_err is not None else 0.01 * med
                f[s] = med + rng.normal(0, 1, s.sum()) * e
    c.flux = f
    return c


def injected_task(curves: list[LightCurve], is_c: np.ndarray, draw: int
                  ) -> tuple[list[LightCurve], np.ndarray]:
    """The ab stars with 12 made odd (three of each kind); whether each is."""
    rng = np.random.default_rng(100 + draw)
    ab = [c for c, k in zip(curves, is_c, strict=True) if not k]
    pick = rng.choice(len(ab), 3 * len(INJECTED_KINDS), replace=False)
    y = np.zeros(len(ab), bool)
    for j, i in enumerate(pick):
        ab[i] = inject(ab[i], INJECTED_KINDS[j % len(INJECTED_KINDS)], rng)
        y[i] = True
    return ab, y


def kepler_survey_task(draw: int, per_star: int = 60, days: float = 100.0
                       ) -> tuple[list[LightCurve], np.ndarray]:
    """Survey-sampled Kepler segments, 6 % with an injected event (module docstring)."""
    rng = np.random.default_rng(200 + draw)
    curves: list[LightCurve] = []
    y: list[bool] = []
    kinds = ("flare", "dip", "step")
    for path in sorted((SHARED / "kepler").glob("*.csv")):
        df = pd.read_csv(path).sort_values("time")
        t, f = df["time"].to_numpy(float), df["flux"].to_numpy(float)
        sigma = 1.4826 * float(np.median(np.abs(f - np.median(f))))
        for k in range(per_star):
            t0 = rng.uniform(t[0], t[-1] - days)
            nights = t0 + np.flatnonzero(rng.random(int(days)) < 0.5)
            gap = rng.uniform(t0, t0 + days - 30)
            nights = nights[(nights < gap) | (nights >= gap + 30)]
            epochs = nights + rng.uniform(0.1, 0.3, nights.size)  # one visit a night
            idx = np.clip(np.searchsorted(t, epochs), 0, t.size - 2)
            near = np.abs(t[idx] - epochs) < 0.05  # Kepler has data then
            idx = idx[near]
            if idx.size < 10:
                continue
            te, g, r = t[idx], f[idx].copy(), f[idx + 1].copy()
            odd = rng.random() < 0.06
            if odd:
                kind = kinds[len(curves) % 3]
                if kind == "flare":
                    start = rng.choice(te)
                    amp = rng.uniform(5, 10) * sigma
                    shape = np.where(te >= start, np.exp(-(te - start) / 2.0), 0.0)
                    g += amp * shape
                    r += 0.6 * amp * shape
                elif kind == "dip":
                    start, length = rng.choice(te), rng.uniform(3, 8)
                    inside = (te >= start) & (te < start + length)
                    depth = rng.uniform(4, 6) * sigma
                    g[inside] -= depth
                    r[inside] -= depth
                else:
                    start = rng.choice(te)
                    jump = rng.uniform(3, 5) * sigma * rng.choice([-1, 1])
                    g[te >= start] += jump
                    r[te >= start] += jump
            time = np.concatenate([te, te + 0.003])
            flux = np.concatenate([1 + 0.01 * g, 1.3 * (1 + 0.01 * r)])
            err = np.concatenate([np.full(te.size, 0.01), np.full(te.size, 0.013)])
            band = np.repeat(["g", "r"], te.size)
            curves.append(LightCurve.from_arrays(f"{path.stem}-{k}", time, flux, err, band,
                                                 emit_warnings=False))
            y.append(odd)
    return curves, np.array(y)


TRANSIENT_KINDS = ("agn", "blazar", "sn", "cv")
SN_KINDS = ("sn", "sn-fast")
TRANSIENT_TASKS = (*TRANSIENT_KINDS, "sn-fast")  # the rare kind of each transients task


def survey_epochs(rng: np.random.Generator) -> np.ndarray:
    """Nightly visits as a ground survey makes them: 2-4 seasons of 180 nights a year apart,
    a visit on 10-40 % of the nights (days)."""
    p = rng.uniform(0.1, 0.4)
    nights = np.concatenate([365.0 * s + np.flatnonzero(rng.random(180) < p)
                             for s in range(int(rng.integers(2, 5)))])
    return nights + rng.uniform(0.1, 0.3, nights.size)


def damped_random_walk(t: np.ndarray, tau: float, sigma: float, rng: np.random.Generator
                       ) -> np.ndarray:
    """An Ornstein-Uhlenbeck process (timescale tau, long-run sd sigma) at the times t,
    sampled exactly: how quasar variability is modelled (Kelly et al. 2009)."""
    x = np.empty(t.size)
    x[0] = rng.normal(0.0, sigma)
    a = np.exp(-np.diff(t) / tau)
    kicks = sigma * np.sqrt(1.0 - a * a) * rng.normal(size=a.size)
    for i in range(1, t.size):
        x[i] = x[i - 1] * a[i - 1] + kicks[i - 1]
    return x


def _bazin(t: np.ndarray, t0: float, rise: float, fall: float) -> np.ndarray:
    """A supernova's flux shape (Bazin et al. 2009), peak 1."""
    def shape(x: np.ndarray) -> np.ndarray:  # exp(-x / fall) / (1 + exp(-x / rise)), in logs
        return np.exp(-x / fall - np.logaddexp(0.0, -x / rise))
    return shape(t - t0) / shape(np.linspace(-3 * rise, 3 * fall, 2000)).max()


def transient_magnitudes(kind: str, t: np.ndarray, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(g, r) magnitudes of one object of `kind` at the times t (module docstring)."""
    if kind in ("agn", "blazar"):
        mean = rng.uniform(17.5, 19.5)
        if kind == "agn":  # slow, small, bluer when brighter
            tau, sigma, in_r = 10 ** rng.uniform(1.7, 2.7), rng.uniform(0.05, 0.25), 0.7
        else:  # fast, large, redder when brighter
            tau, sigma, in_r = 10 ** rng.uniform(0.7, 1.7), rng.uniform(0.25, 0.6), 1.1
        x = damped_random_walk(t, tau, sigma, rng)
        return mean + x, mean - rng.uniform(0.1, 0.5) + in_r * x
    host = rng.uniform(19.0, 20.5)
    if kind in SN_KINDS:  # one explosion, peak within a season; "sn-fast": a faster,
        # fainter, redder subtype (91bg-like)
        t0 = t[rng.integers(t.size)] + rng.uniform(-5, 5)
        rise, fall, dm, redder = rng.uniform(2, 6), rng.uniform(15, 40), rng.uniform(0.8, 2.5), 1.3
        if kind == "sn-fast":
            fall, dm, redder = 0.5 * fall, dm - 0.5, 1.8
        amp = 10 ** (0.4 * dm) - 1.0
        g = 1.0 + amp * _bazin(t, t0, rise, fall)
        r = 1.0 + 0.9 * amp * _bazin(t, t0, rise, redder * fall)
        return host - 2.5 * np.log10(g), host - 0.3 - 2.5 * np.log10(r)
    # "cv": dwarf-nova outbursts every 20-150 days, 2-4 mag, a plateau then a fast decline
    every, amp = rng.uniform(20, 150), 10 ** (0.4 * rng.uniform(2, 4)) - 1.0
    starts = np.arange(t.min() - rng.uniform(0, every), t.max(), every)
    starts = starts + rng.normal(0, 0.15 * every, starts.size)
    plateau, decay = rng.uniform(2, 8), rng.uniform(1, 3)
    x = t[:, None] - starts[None, :]
    burst = np.where(x < 0, 0.0, np.exp(-np.clip(x - plateau, 0, None) / decay)) * (
        1.0 - np.exp(-np.clip(x, 0, None) / 0.5))
    f = 1.0 + amp * burst.sum(axis=1)
    return host - 2.5 * np.log10(f), host + 0.1 - 2.5 * np.log10(1.0 + 0.85 * (f - 1.0))


def transient_curve(object_id: str, kind: str, rng: np.random.Generator) -> LightCurve:
    """One survey light curve of `kind`: g and r a few minutes apart each visit, magnitude
    errors growing towards the limit, only detections (brighter than 21.5) kept."""
    t = survey_epochs(rng)
    g, r = transient_magnitudes(kind, t, rng)
    time, mag = np.concatenate([t, t + 0.014]), np.concatenate([g, r])
    err = np.sqrt(0.01 ** 2 + (0.05 * 10 ** (0.4 * (mag - 19.5))) ** 2)
    mag = mag + err * rng.normal(size=mag.size)
    seen = mag < 21.5
    return LightCurve.from_arrays(object_id, time[seen], mag[seen], err[seen],
                                  np.repeat(["g", "r"], t.size)[seen], unit="mag",
                                  emit_warnings=False)


def crts_epochs(rng: np.random.Generator) -> np.ndarray:
    """Catalina's cadence: 5-8 seasons of 200 nights a year apart, a visit on 8-15 % of the
    nights, four exposures about 10 minutes apart each visit (days)."""
    p = rng.uniform(0.08, 0.15)
    nights = np.concatenate([365.0 * s + np.flatnonzero(rng.random(200) < p)
                             for s in range(int(rng.integers(5, 9)))])
    nights = nights + rng.uniform(0.1, 0.3)
    four = nights[:, None] + 0.007 * np.arange(4)[None, :]
    return (four + rng.normal(0.0, 0.001, four.shape)).ravel()


def crts_curve(object_id: str, kind: str, rng: np.random.Generator) -> LightCurve:
    """One Catalina-like light curve of `kind`: one unfiltered band (V), `crts_epochs`, the
    kind's g magnitudes (AGN and blazars 0.3 mag brighter: the limit is 19.8, not 21.5),
    errors 0.08 mag at V = 19, only detections kept."""
    t = crts_epochs(rng)
    v = transient_magnitudes(kind, t, rng)[0]
    if kind in ("agn", "blazar"):
        v = v - 0.3
    err = np.sqrt(0.02 ** 2 + (0.08 * 10 ** (0.4 * (v - 19.0))) ** 2)
    v = v + err * rng.normal(size=v.size)
    seen = v < 19.8
    return LightCurve.from_arrays(object_id, t[seen], v[seen], err[seen],
                                  np.full(int(seen.sum()), "V"), unit="mag",
                                  emit_warnings=False)


# a survey's curve maker, its seed offset, its bands
SURVEYS = {"transients": (transient_curve, 300, ["g", "r"]), "crts": (crts_curve, 900, ["V"])}


def transients_task(draw: int, rare: str, scale: int = 1, survey: str = "transients"
                    ) -> tuple[list[LightCurve], np.ndarray]:
    """`rare` (10 objects) among 60 of each other kind of `TRANSIENT_KINDS`, or "sn-fast"
    (10) among 200 "sn", every count times `scale` (the same 5 % rare: a survey's sample is
    thousands); whether each is the rare kind. `survey`: "transients" (two bands, a visit a
    night) or "crts" (one band, four exposures a visit: `crts_curve`)."""
    kinds = SN_KINDS if rare == "sn-fast" else TRANSIENT_KINDS
    curve, seed, _ = SURVEYS[survey]
    rng = np.random.default_rng(seed + draw + 1000 * (kinds.index(rare) + 1)
                                + 100_000 * (scale - 1))
    curves, y = [], []
    for kind in kinds:
        n = scale * (10 if kind == rare else 200 if kinds == SN_KINDS else 60)
        curves += [curve(f"{kind}-{i}", kind, rng) for i in range(n)]
        y += [kind == rare] * n
    return curves, np.array(y)


ALERT_KINDS = ("Ia", "Ia-91bg")


def alert_curve(object_id: str, kind: str, rng: np.random.Generator) -> LightCurve:
    """One SN Ia alert history of `kind` (ALERT_KINDS; the module docstring's `alerts`)."""
    nights = np.arange(-np.floor(rng.uniform(5, 20)), rng.uniform(60, 140))
    rise, fall = rng.uniform(2, 5), rng.uniform(15, 30)
    peak, colour = rng.uniform(17.5, 19.5), rng.uniform(-0.1, 0.1)
    falls = {"g": fall, "r": 1.6 * fall}
    if kind == "Ia-91bg":
        falls, colour = {"g": 0.55 * fall, "r": 0.9 * fall}, colour + rng.uniform(0.4, 0.8)
    time, mag, band = [], [], []
    for b, level in (("g", peak), ("r", peak - colour)):  # g - r = colour at the peak
        t = nights[rng.random(nights.size) < 0.45]
        t = t + rng.uniform(0.1, 0.3) + rng.normal(0.0, 0.02, t.size)
        time.append(t)
        mag.append(level - 2.5 * np.log10(np.maximum(_bazin(t, 0.0, rise, falls[b]), 1e-6)))
        band.append(np.full(t.size, b))
    t, m = np.concatenate(time), np.concatenate(mag)
    err = np.sqrt(0.02 ** 2 + (0.1 * 10 ** (0.4 * (m - 20.0))) ** 2)
    # detections: near the limit (errors up to ~0.3 mag), not noise from far below it
    seen = m < 21.3
    m = m + err * rng.normal(size=m.size)
    seen &= m < 20.8
    return LightCurve.from_arrays(object_id, t[seen], m[seen], err[seen],
                                  np.concatenate(band)[seen], unit="mag", emit_warnings=False)


def alerts_task(draw: int, scale: int = 1) -> tuple[list[LightCurve], np.ndarray]:
    """10 91bg-like among 200 normal SN Ia alert histories (every count times `scale`);
    whether each is the rare kind."""
    rng = np.random.default_rng(7000 + draw + 100_000 * (scale - 1))
    curves, y = [], []
    for kind, n in zip(ALERT_KINDS, (200 * scale, 10 * scale), strict=True):
        curves += [alert_curve(f"{kind}-{i}", kind, rng) for i in range(n)]
        y += [kind != ALERT_KINDS[0]] * n
    return curves, np.array(y)


def isolation_forest(x: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    from lcad.models.features import robust_standardize

    x = robust_standardize(x)
    return -IsolationForest(n_estimators=200, random_state=seed).fit(x).score_samples(x)


def metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    s = np.where(np.isfinite(s), s, -np.inf)
    return ranking_metrics(y, s) | at_k_metrics(y, s)


def rank_all(curves: list[LightCurve], overrides: list[str], seed: int
             ) -> dict[str, np.ndarray]:
    """Each method's object scores for these curves (lcad trained on them)."""
    from lcad.models.fit import fit_detector

    det, _ = fit_detector(curves, DetectorConfig().with_overrides(
        [f"train.seed={seed}", *overrides]))
    res = det.score(curves, on_error="skip")
    by = {r.object_id: r for r in res}
    score = np.array([by[c.object_id].score if c.object_id in by else np.nan for c in curves])
    latent = np.array([by[c.object_id].latent.mean(0) if c.object_id in by
                       else np.full(det.embedding_dim, np.nan) for c in curves])
    print(f"  lcad: {det.representation}; autoencoder {det.info.autoencoder.get('status')}")
    out = {"lcad (defaults: object score)": score,
           "features + Isolation Forest": features_iforest(curves, seed),
           "lcad latent codes + Isolation Forest": isolation_forest(latent, seed)}
    if det.objects is not None:  # what each part of the object score adds
        out.update(object_ablations(det.objects, curves, seed))
    return out


def object_ablations(model: ObjectModel, curves: list[LightCurve], seed: int
                     ) -> dict[str, np.ndarray]:
    """The object model's parts alone: its reconstruction error, and the forest over its
    reconstructions without the error."""
    from sklearn.ensemble import IsolationForest

    x = model.standardize(model.feature_rows(curves))
    _z, rows, err = model.network_rows(x)
    forest = IsolationForest(n_estimators=model.cfg.trees, random_state=seed).fit(
        model.reference[:, :-1])
    return {"ablation: object autoencoder error alone": err,
            "ablation: forest on its reconstruction, no error": -forest.score_samples(
                rows[:, :-1])}


TASKS = ("all", "rare", "injected", "kepler-survey", "transients", "crts", "alerts")
COLUMNS = ("roc_auc", "pr_auc", "precision_at_10", "precision_at_25", "recall_at_25")


def summarize(name: str, runs: list[dict[str, dict[str, float]]]) -> list[list[str]]:
    rows = []
    for method in runs[0]:
        cells = [method]
        for col in COLUMNS:
            v = np.array([r[method].get(col, np.nan) for r in runs])
            cells.append(f"{np.mean(v):.3f}" + (f" ± {np.std(v):.3f}" if len(v) > 1 else ""))
        rows.append([name, *cells])
    return rows


def draws(name: str, label: str, make: Callable[[int], tuple[list[LightCurve], np.ndarray]],
          n: int, overrides: list[str]) -> list[list[str]]:
    """`n` draws of one task: make it, rank its objects with every method, summarize."""
    runs = []
    for d in range(n):
        task, y = make(d)
        print(f"task {name}, draw {d + 1}/{n}: {len(task)} objects, {int(y.sum())} positive")
        scores = rank_all(task, overrides, d)
        runs.append({m: metrics(y, s) for m, s in scores.items()})
    return summarize(label, runs)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--draws", type=int, default=3,
                    help="draws of each task (`all`: training seeds)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--scale", type=int, default=1,
                    help="transients, alerts: every kind's count times this "
                         "(1: 190-210 objects)")
    args = ap.parse_args(argv)
    curves, is_c = rr_lyrae()
    rows = []
    if "all" in args.tasks:
        # every object, so the draws differ only in the network's seed and split
        rows += draws("all", f"all (19 % c, {args.draws} seeds)", lambda d: (curves, is_c),
                      args.draws, args.set)
    if "rare" in args.tasks:
        rng = np.random.default_rng(0)  # one stream over the draws, as before
        ab, cc = np.flatnonzero(~is_c), np.flatnonzero(is_c)

        def rare(_d: int) -> tuple[list[LightCurve], np.ndarray]:
            idx = np.concatenate([ab, rng.choice(cc, 10, replace=False)])
            return [curves[i] for i in idx], is_c[idx]

        rows += draws("rare", f"rare (5 % c, {args.draws} draws)", rare, args.draws, args.set)
    if "injected" in args.tasks:
        rows += draws("injected", f"injected (6 %, {args.draws} draws)",
                      lambda d: injected_task(curves, is_c, d), args.draws, args.set)
    if "kepler-survey" in args.tasks:
        rows += draws("kepler-survey", f"kepler-survey (6 %, {args.draws} draws)",
                      kepler_survey_task, args.draws, args.set)
    for survey in SURVEYS:
        for kind in TRANSIENT_TASKS if survey in args.tasks else ():
            label = f"{survey}: rare {kind} (x{args.scale}, {args.draws} draws)"
            rows += draws(f"{survey} {kind}", label,
                          partial(transients_task, rare=kind, scale=args.scale, survey=survey),
                          args.draws, args.set)
    if "alerts" in args.tasks:
        rows += draws("alerts", f"alerts: 91bg-like among SN Ia (x{args.scale}, "
                      f"{args.draws} draws)", partial(alerts_task, scale=args.scale),
                      args.draws, args.set)
    report(heading("bench.objects", argv) + table(["task", "method", *COLUMNS], rows),
           args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
