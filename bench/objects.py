"""The odd object among many: per-object ranking on SDSS Stripe 82 RR Lyrae (issue 18).

The 241 stars of ../shared/data/rrlyrae are RR Lyrae of type ab (the majority) or c (the
minority: overtone pulsators, shorter periods, near-sinusoidal, smaller amplitudes). Every
method ranks all stars, unsupervised, trained on all of them; the c types are the positives.
Metrics: ROC-AUC, PR-AUC (prevalence = chance), precision at 10 and 24 (10%), recall at 24.

Methods: lcad with its defaults (object score; unscored objects rank last), and light-curve
features + Isolation Forest (per band: median, std, robust range 5-95%, skew, von Neumann
ratio, number of epochs; colours g-r, u-g, r-i of the medians), as the CRTS/ZTF literature
does. lcad's latent codes + Isolation Forest show whether the codes carry the difference.

    python -m bench.objects            # ~3 min on 2 cores
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
from lcad.training.evaluate import ranking_metrics
from lcad.training.io import read_curves

BANDS = ("u", "g", "r", "i", "z")


def rr_lyrae() -> tuple[list[LightCurve], np.ndarray]:
    """The curves (sentinels masked) and whether each is a c type."""
    root = SHARED / "rrlyrae"
    curves = read_curves(root / "stripe82_rrlyrae.csv")
    types = pd.read_csv(root / "periods.csv").set_index("Num")["Type"].astype(str)
    is_c = np.array([types.get(int(c.object_id), "ab") == "c" for c in curves])
    return curves, is_c


def features(c: LightCurve) -> np.ndarray:
    labels = c.band_labels()
    out, med = [], {}
    for b in BANDS:
        sel = (labels == b) & c.mask
        t, v = c.time[sel], c.flux[sel]
        if v.size < 3:
            out += [np.nan] * 6
            continue
        v = v[np.argsort(t)]
        med[b] = float(np.median(v))
        sd = float(np.std(v))
        lo, hi = np.percentile(v, [5, 95])
        skew = float(np.mean(((v - v.mean()) / sd) ** 3)) if sd > 0 else 0.0
        eta = float(np.mean(np.diff(v) ** 2) / sd ** 2) if sd > 0 else 0.0
        out += [med[b], sd, hi - lo, skew, eta, float(v.size)]
    for a, b in (("g", "r"), ("u", "g"), ("r", "i")):
        out.append(med[a] - med[b] if a in med and b in med else np.nan)
    return np.array(out)


def isolation_forest(x: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    x = np.where(np.isfinite(x), x, np.nanmedian(x, axis=0))
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(x)
    return -forest.score_samples(x)


def at_k(y: np.ndarray, s: np.ndarray, k: int) -> tuple[float, float]:
    order = np.argsort(-np.where(np.isfinite(s), s, -np.inf), kind="stable")[:k]
    hits = int(y[order].sum())
    return hits / k, hits / max(int(y.sum()), 1)


def report(name: str, y: np.ndarray, s: np.ndarray) -> list[str]:
    m = ranking_metrics(y, np.where(np.isfinite(s), s, -np.inf))
    p10, _ = at_k(y, s, 10)
    p24, r24 = at_k(y, s, 24)
    return [name, f"{m['roc_auc']:.3f}", f"{m['pr_auc']:.3f}", f"{p10:.2f}", f"{p24:.2f}",
            f"{r24:.2f}", str(int(np.isfinite(s).sum()))]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    from lcad.models.fit import fit_detector

    curves, is_c = rr_lyrae()
    det, _ = fit_detector(curves, DetectorConfig().with_overrides(args.set))
    res = det.score(curves, on_error="skip")
    by = {r.object_id: r for r in res}
    score = np.array([by[c.object_id].score if c.object_id in by else np.nan for c in curves])
    latent = np.array([by[c.object_id].latent.mean(0) if c.object_id in by
                       else np.full(det.latent_dim, np.nan) for c in curves])
    feats = np.array([features(c) for c in curves])
    rows = [report("lcad (defaults: object score)", is_c, score),
            report("features + Isolation Forest", is_c, isolation_forest(feats)),
            report("lcad latent codes + Isolation Forest", is_c, isolation_forest(latent)),
            ["chance", "0.500", f"{is_c.mean():.3f}", f"{is_c.mean():.2f}",
             f"{is_c.mean():.2f}", f"{24 / max(is_c.sum(), 1):.2f}", "-"]]
    print(f"{len(curves)} stars, {int(is_c.sum())} c type; lcad: {det.config.preprocess.mode} "
          f"window {det.window}, autoencoder {det.info.autoencoder.get('verdict')}")
    text = table(["method", "ROC-AUC", "PR-AUC", "precision@10", "precision@24",
                  "recall@24", "scored"], rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
