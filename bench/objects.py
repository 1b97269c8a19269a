"""The odd object among many: per-object ranking on SDSS Stripe 82 RR Lyrae (issue 18).

The 241 stars of ../shared/data/rrlyrae are RR Lyrae of type ab (the majority) or c (the
minority: overtone pulsators, shorter periods, near-sinusoidal, smaller amplitudes). Every
method ranks the stars of a task, unsupervised, trained on all of them; the c types are the
positives. Two tasks:
- `all`: every star (46 c of 241, 19 %);
- `rare`: the 195 ab stars with 10 c stars drawn at random (5 %), `--draws` times (spread).
Metrics: ROC-AUC, PR-AUC (prevalence = chance), precision at 10 and 25, recall at 25.

Methods: lcad with its defaults (object score; unscored objects rank last); light-curve
features (models/features.py: per band variability, amplitude, shape, Lomb-Scargle period,
colours) + Isolation Forest, as the CRTS/ZTF literature does; lcad's latent codes + Isolation
Forest (do the codes carry the difference?).

    python -m bench.objects            # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd

from bench.common import table
from bench.quality import SHARED
from lcad.models.config import DetectorConfig
from lcad.models.lightcurve import LightCurve
from lcad.training.evaluate import at_k_metrics, features_iforest, ranking_metrics
from lcad.training.io import read_curves


def rr_lyrae() -> tuple[list[LightCurve], np.ndarray]:
    """The curves (sentinels masked) and whether each is a c type."""
    root = SHARED / "rrlyrae"
    curves = read_curves(root / "stripe82_rrlyrae.csv")
    types = pd.read_csv(root / "periods.csv").set_index("Num")["Type"].astype(str)
    is_c = np.array([types.get(int(c.object_id), "ab") == "c" for c in curves])
    return curves, is_c


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
                       else np.full(det.latent_dim, np.nan) for c in curves])
    print(f"  lcad: {det.config.preprocess.mode} window {det.window}, autoencoder "
          f"{det.info.autoencoder.get('status')}")
    return {"lcad (defaults: object score)": score,
            "features + Isolation Forest": features_iforest(curves, seed),
            "lcad latent codes + Isolation Forest": isolation_forest(latent, seed)}


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
    args = ap.parse_args(argv)
    curves, is_c = rr_lyrae()
    rows = []
    print(f"task all: {len(curves)} stars, {int(is_c.sum())} c type")
    scores = rank_all(curves, args.set, 0)
    rows += summarize("all (19 % c)", [{m: metrics(is_c, s) for m, s in scores.items()}])
    rng = np.random.default_rng(0)
    ab, cc = np.flatnonzero(~is_c), np.flatnonzero(is_c)
    runs = []
    for d in range(args.draws):
        idx = np.concatenate([ab, rng.choice(cc, 10, replace=False)])
        print(f"task rare, draw {d + 1}/{args.draws}: {idx.size} stars, 10 c type")
        scores = rank_all([curves[i] for i in idx], args.set, d)
        runs.append({m: metrics(is_c[idx], s) for m, s in scores.items()})
    rows += summarize(f"rare (5 % c, {args.draws} draws)", runs)
    text = table(["task", "method", *COLUMNS], rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
