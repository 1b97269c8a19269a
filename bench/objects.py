"""The odd object among many: per-object ranking on SDSS Stripe 82 RR Lyrae (issue 18).

The 241 stars of ../shared/data/rrlyrae are RR Lyrae of type ab (the majority) or c (the
minority: overtone pulsators, shorter periods, near-sinusoidal, smaller amplitudes). Every
method ranks the stars of a task, unsupervised, trained on all of them; the c types are the
positives. Two tasks:
- `all`: every star (46 c of 241, 19 %);
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
  Lyrae and events that are not whole-object traits.
Metrics: ROC-AUC, PR-AUC (prevalence = chance), precision at 10 and 25, recall at 25.

Methods: lcad with its defaults (object score; unscored objects rank last); light-curve
features (models/features.py: per band variability, amplitude, shape, Lomb-Scargle period,
colours) + Isolation Forest, as the CRTS/ZTF literature does; lcad's latent codes (the object
embeddings) + Isolation Forest (do the codes carry the difference?); ablations of the object
score (models/objects.py): the autoencoder's error alone, the forest without the error.

    python -m bench.objects            # ~35 min on 2 cores
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd

from bench.common import report, table
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


TASKS = ("all", "rare", "injected", "kepler-survey")
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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--draws", type=int, default=3, help="random draws of the rare task")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    args = ap.parse_args(argv)
    curves, is_c = rr_lyrae()
    rows = []
    if "all" in args.tasks:
        print(f"task all: {len(curves)} stars, {int(is_c.sum())} c type")
        scores = rank_all(curves, args.set, 0)
        rows += summarize("all (19 % c)", [{m: metrics(is_c, s) for m, s in scores.items()}])
    rng = np.random.default_rng(0)
    ab, cc = np.flatnonzero(~is_c), np.flatnonzero(is_c)
    runs = []
    for d in range(args.draws if "rare" in args.tasks else 0):
        idx = np.concatenate([ab, rng.choice(cc, 10, replace=False)])
        print(f"task rare, draw {d + 1}/{args.draws}: {idx.size} stars, 10 c type")
        scores = rank_all([curves[i] for i in idx], args.set, d)
        runs.append({m: metrics(is_c[idx], s) for m, s in scores.items()})
    if runs:
        rows += summarize(f"rare (5 % c, {args.draws} draws)", runs)
    runs = []
    for d in range(args.draws if "injected" in args.tasks else 0):
        task, y = injected_task(curves, is_c, d)
        print(f"task injected, draw {d + 1}/{args.draws}: {len(task)} stars, {int(y.sum())} odd")
        scores = rank_all(task, args.set, d)
        runs.append({m: metrics(y, s) for m, s in scores.items()})
    if runs:
        rows += summarize(f"injected (6 %, {args.draws} draws)", runs)
    runs = []
    for d in range(args.draws if "kepler-survey" in args.tasks else 0):
        task, y = kepler_survey_task(d)
        print(f"task kepler-survey, draw {d + 1}/{args.draws}: {len(task)} segments, "
              f"{int(y.sum())} with an event")
        scores = rank_all(task, args.set, d)
        runs.append({m: metrics(y, s) for m, s in scores.items()})
    if runs:
        rows += summarize(f"kepler-survey (6 %, {args.draws} draws)", runs)
    report(table(["task", "method", *COLUMNS], rows), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
