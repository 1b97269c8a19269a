"""Variants of the object score against features + Isolation Forest, paired draw by draw
(issue 18's dev-task target: "above features + Isolation Forest on each").

bench.objects trains a whole detector per draw; here each draw's features are computed once
(`models/features.py`) and every variant of the object score is fitted on the same training
objects (the detector's own split by object, `fit.split_curves`) and ranks the same objects,
so that a difference is the method's, not the draw's. Tasks as in bench.objects (`all` with
`--draws` training seeds, `rare`, `injected`, `kepler-survey` drawn `--draws` times). Per
task: mean ROC-AUC (sd over draws), mean PR-AUC, and against the baseline the mean paired
ROC-AUC difference and the draws the variant wins. `--tasks transients` runs the synthetic
survey kinds alone (each kind in turn the rare one; bench.objects), `--tasks crts` the same
kinds on Catalina's cadence (one band, four exposures a visit); `--scale 4` draws 4
times as many objects of each kind (760-840: the forests then subsample, as on a survey's
thousands).

Variants (the object model: models/objects.py):
- lcad's object score (defaults): an Isolation Forest and the distance to the K nearest
  training objects over the autoencoder's reconstruction and log error, each in robust units
  of the training objects' scores, the largest over K = 20, 40, 80, ... below half of them,
  summed; and each part alone (the ablation: the forest alone was the default until
  session 26);
- its local part with one K, 20 or a tenth of the training objects where that is more (the
  default of sessions 26-32), and with the mean over the ladder of K instead of the largest;
- the same, averaged over 3 autoencoders (seeds): does the network's variance decide?
- the error column 4 times: the forest picks a column at random, the error is 1 of ~60;
- kNN: the mean distance to the k nearest training objects (a training object skips itself),
  on the standardised features or the latent codes, k = 5 and 20;
- the phase-folded curve: each band folded at the object's period, normalised by its
  amplitude, 16 phase bins from the brightest; a second autoencoder learns the folded curves
  and its log error joins the forest's rows (the representation issue 18 names).

    python -m bench.object_variants --draws 5  # ~31 min, 2 cores; bench/results/object_variants.txt
    python -m bench.object_variants --tasks transients --scale 4 --draws 3  # ~16 min

(the second's results: bench/results/object_variants-transients-x4.txt)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench.common import heading, report, table
from bench.objects import (
    SURVEYS,
    TASKS,
    TRANSIENT_TASKS,
    alerts_task,
    injected_task,
    isolation_forest,
    kepler_survey_task,
    rr_lyrae,
    transients_task,
)
from lcad.models.config import DetectorConfig
from lcad.models.features import band_order, feature_matrix, feature_names
from lcad.models.fit import split_curves
from lcad.models.lightcurve import LightCurve
from lcad.models.objects import ObjectModel, neighbour_distance
from lcad.training.evaluate import ranking_metrics

PHASE_BINS = 16
BASELINE = "features + Isolation Forest (baseline)"


def folded(curves: Sequence[LightCurve], raw: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """(objects, bands x PHASE_BINS) folded curves at each object's period (the median of its
    bands' `log_period` features): per band (flux - median) / robust amplitude, averaged in
    phase bins (empty bins interpolated around the cycle), rolled so that the first band's
    brightest bin comes first. No period or no band: zeros."""
    names, order = feature_names(bands), band_order(bands)
    cols = [names.index(f"{b}.log_period") for b in order]
    out = np.zeros((len(curves), len(order) * PHASE_BINS), np.float32)
    for i, c in enumerate(curves):
        log_period = raw[i, cols]
        if not np.isfinite(log_period).any():
            continue
        period = 10 ** float(np.nanmedian(log_period))
        labels, shapes = c.band_labels(), []
        for k, b in enumerate(order):
            sel = c.mask & (labels == b)
            if sel.sum() < 5:
                continue
            v = c.flux[sel]
            amp = float(np.percentile(v, 95) - np.percentile(v, 5)) or 1.0
            idx = np.minimum(((c.time[sel] / period) % 1.0 * PHASE_BINS).astype(int),
                             PHASE_BINS - 1)
            cnt = np.bincount(idx, minlength=PHASE_BINS)
            mean = np.bincount(idx, (v - np.median(v)) / amp, minlength=PHASE_BINS) / \
                np.maximum(cnt, 1)
            seen = np.flatnonzero(cnt)
            shapes.append((k, np.interp(np.arange(PHASE_BINS), seen, mean[seen],
                                        period=PHASE_BINS)))
        if shapes:
            shift = int(np.argmax(shapes[0][1]))
            for k, shape in shapes:
                out[i, k * PHASE_BINS:(k + 1) * PHASE_BINS] = np.roll(shape, -shift)
    return out


def forest(model: ObjectModel, rows: np.ndarray, train: np.ndarray) -> np.ndarray:
    """A forest like the object model's (its trees and seed) fitted on the training rows,
    scoring every row."""
    from sklearn.ensemble import IsolationForest

    f = IsolationForest(n_estimators=model.cfg.trees, random_state=model.seed)
    return -f.fit(rows[train]).score_samples(rows)


def variants(curves: Sequence[LightCurve], raw: np.ndarray, bands: Sequence[str], seed: int
             ) -> dict[str, np.ndarray]:
    """Every variant's scores of these objects (module docstring)."""
    cfg = DetectorConfig().with_overrides([f"train.seed={seed}"])
    splits = split_curves(curves, cfg)
    where = {c.object_id: i for i, c in enumerate(curves)}
    tr = np.array([where[c.object_id] for c in splits.train])
    va = np.array([where[c.object_id] for c in splits.validation])
    def fit(rows: np.ndarray, seed: int) -> ObjectModel:
        return ObjectModel.fit_features(rows[tr], rows[va], bands, cfg.objects, seed)[0]

    model = fit(raw, seed)
    x = model.standardize(raw)
    z, rows, _err = model.network_rows(x)
    # `model.assess(raw).score`, from the rows already at hand
    out = {"lcad object score (defaults)": model.scores(rows),
           BASELINE: isolation_forest(raw, seed),
           "ablation: its forest alone": model.forest_scorer.scores(rows),
           "ablation: its nearest neighbours alone": model.local_scores(rows)}
    one_k = ObjectModel(bands, cfg.objects, model.center, model.scale, model.network,
                        model.reference, seed, "forest+neighbours")
    out["one K (20 or a tenth: sessions 26-32)"] = one_k.scores(rows)
    (fm, fs), (center, spread) = model.forest_scale, model.local_scales.T
    out["the mean over the ladder of K, not the largest"] = (out[
        "ablation: its forest alone"] - fm) / fs + np.mean(
            (model._log_distances(rows) - center) / spread, axis=1)
    others = [fit(raw, seed + 1000 * k) for k in (1, 2)]
    out["the same, averaged over 3 autoencoders"] = np.mean(
        [out["lcad object score (defaults)"], *(m.assess(raw).score for m in others)], axis=0)
    out["forest over [reconstruction, log error x 4]"] = forest(
        model, np.column_stack([rows, *[rows[:, -1:]] * 3]), tr)
    for k in (5, 20):
        out[f"kNN (k={k}), standardised features"] = neighbour_distance(x[tr], x, k)
        out[f"kNN (k={k}), latent codes"] = neighbour_distance(z[tr], z, k)
    shapes = folded(curves, raw, bands)
    fold = fit(shapes, seed)
    _zf, _rf, fold_err = fold.network_rows(fold.standardize(shapes))
    out["forest over [reconstruction, log error, folded-curve log error]"] = forest(
        model, np.column_stack([rows, np.log(fold_err + 1e-12)]), tr)
    return out


def tasks(draws: int, which: Sequence[str] = TASKS, scale: int = 1
          ) -> list[tuple[str, list[LightCurve], np.ndarray, list[str]]]:
    """(task, curves, labels, bands) of every draw of the tasks `which` (bench.objects's
    tasks; the transients `scale` times as many)."""
    out: list[tuple[str, list[LightCurve], np.ndarray, list[str]]] = []
    if {"all", "rare", "injected"} & set(which):
        curves, is_c = rr_lyrae()
        bands = sorted({b for c in curves for b in c.bands})
        for _ in range(draws if "all" in which else 0):  # each draw: its training seed
            out.append(("all (19 % c)", curves, is_c, bands))
        rng = np.random.default_rng(0)
        ab, cc = np.flatnonzero(~is_c), np.flatnonzero(is_c)
        for _ in range(draws if "rare" in which else 0):
            idx = np.concatenate([ab, rng.choice(cc, 10, replace=False)])
            out.append(("rare (5 % c)", [curves[i] for i in idx], is_c[idx], bands))
        for d in range(draws if "injected" in which else 0):
            out.append(("injected (6 %)", *injected_task(curves, is_c, d), bands))
    for d in range(draws if "kepler-survey" in which else 0):
        out.append(("kepler-survey (6 %)", *kepler_survey_task(d), ["g", "r"]))
    for survey, (_, _, bands) in SURVEYS.items():
        for rare in TRANSIENT_TASKS if survey in which else ():
            for d in range(draws):
                out.append((f"{survey}: rare {rare}" + (f" (x{scale})" if scale > 1 else ""),
                            *transients_task(d, rare, scale, survey), bands))
    for d in range(draws if "alerts" in which else 0):
        out.append(("alerts: 91bg-like" + (f" (x{scale})" if scale > 1 else ""),
                    *alerts_task(d, scale), ["g", "r"]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--scale", type=int, default=1,
                    help="transients, alerts: every kind's count times this "
                         "(1: 190-210 objects)")
    args = ap.parse_args(argv)
    results: dict[str, list[dict[str, dict[str, float]]]] = {}
    seen: dict[str, int] = {}
    for name, curves, y, bands in tasks(args.draws, args.tasks, args.scale):
        draw = seen[name] = seen.get(name, -1) + 1
        raw = feature_matrix(curves, bands)[0]
        scores = variants(curves, raw, bands, draw)
        results.setdefault(name, []).append({m: ranking_metrics(y, s)
                                             for m, s in scores.items()})
        print(f"{name} draw {draw}: " + ", ".join(
            f"{m.split(' (')[0]} {v['roc_auc']:.3f}" for m, v in results[name][-1].items()),
            flush=True)
    rows = []
    for name, runs in results.items():
        base = np.array([r[BASELINE]["roc_auc"] for r in runs])
        for method in runs[0]:
            roc = np.array([r[method]["roc_auc"] for r in runs])
            pr = np.array([r[method]["pr_auc"] for r in runs])
            diff = roc - base
            rows.append([f"{name}, {len(runs)} draw(s)", method,
                         f"{roc.mean():.3f} ± {roc.std():.3f}", f"{pr.mean():.3f}",
                         f"{diff.mean():+.3f}", f"{int((diff > 0).sum())}/{len(runs)}"])
    report(heading("bench.object_variants", argv) + table(
        ["task", "method", "ROC-AUC", "PR-AUC", "ROC-AUC - baseline (paired)",
         "draws above the baseline"], rows), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
